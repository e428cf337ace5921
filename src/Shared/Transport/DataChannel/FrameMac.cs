using System.Buffers.Binary;
using System.Security.Cryptography;

namespace DistRnn.Transport.DataChannel;

/// <summary>The two keys of a connection's frame MACs (<see cref="FrameMac"/>): the one this end signs with, the one its peer does.</summary>
public sealed record FrameKeys(byte[] Send, byte[] Receive);

/// <summary>
/// One direction's frame authentication on a data-channel connection of a run with a secret and no TLS (TLS protects
/// its frames itself): after each frame's header and body, tag = HMAC-SHA256(key, n ‖ header ‖ body), 32 bytes, where
/// n is the frame's number on the connection (int64, little-endian, from 0). The key comes from the handshake
/// (<see cref="ChannelHandshake"/>): bound to the run's secret, both fresh nonces, the ticket and the worker's address,
/// one per direction — so without the secret a frame cannot be altered, made up, replayed, dropped or reordered
/// unnoticed, as on the Akka connections (<c>Transport/AuthenticatedTransport</c>). One instance is used by one task
/// at a time (a connection's writer, or its reader); its hash's native state goes with the connection, to the collector.
/// </summary>
public sealed class FrameMac(byte[] key)
{
    public const int TagBytes = 32;
    private readonly IncrementalHash _hmac = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, key);
    private long _frame;

    /// <summary>The next frame's tag over <paramref name="head"/> then <paramref name="rest"/> (a frame sent in two parts) into <paramref name="tag"/>.</summary>
    public void Sign(ReadOnlySpan<byte> head, ReadOnlySpan<byte> rest, Span<byte> tag)
    {
        Span<byte> n = stackalloc byte[8];
        BinaryPrimitives.WriteInt64LittleEndian(n, _frame++);
        _hmac.AppendData(n);
        _hmac.AppendData(head);
        _hmac.AppendData(rest);
        _hmac.GetHashAndReset(tag);
    }

    /// <summary>Whether <paramref name="tag"/> is the next frame's (<paramref name="header"/> and <paramref name="body"/> as received); compared in constant time.</summary>
    public bool Verify(ReadOnlySpan<byte> header, ReadOnlySpan<byte> body, ReadOnlySpan<byte> tag)
    {
        Span<byte> expected = stackalloc byte[TagBytes];
        Sign(header, body, expected);
        return CryptographicOperations.FixedTimeEquals(expected, tag);
    }
}
