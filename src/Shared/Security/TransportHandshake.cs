using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace DistRnn.Security;

/// <summary>
/// The shared-secret handshake every Akka connection of a run with <c>--secret-file</c> starts with, and the
/// MAC on every frame after it (<see cref="Transport.AuthenticatedTransport"/>). Pure: bytes in, decisions out.
/// <code>
///   dialler                                   listener
///   Hello   = magic ‖ nonce_d             ──►
///                                         ◄──  Answer  = magic ‖ nonce_l ‖ HMAC(secret, "listener" ‖ nonce_d ‖ nonce_l)
///   Confirm = magic ‖ HMAC(secret, "dialler" ‖ nonce_d ‖ nonce_l) ──►
///   then every frame: payload ‖ HMAC(key_direction, sequence ‖ payload)
/// </code>
/// Each side proves the secret over a nonce the other just chose, so a recorded handshake cannot be replayed and
/// a node without the secret never gets past it: no Akka message of its reaches the cluster (no join, no gossip,
/// no Down, no forged sender). The two directions have their own keys, derived from the secret and both nonces,
/// and their own frame counters, so a frame cannot be injected, replayed, reordered or reflected back.
/// </summary>
public static class TransportHandshake
{
    public const int NonceBytes = 32, TagBytes = 32; // HMAC-SHA256
    private static readonly byte[] Magic = "DRNT\u0001"u8.ToArray();
    private static readonly byte[] Label = Encoding.ASCII.GetBytes("distrnn/transport/v1");

    public static int HelloBytes => Magic.Length + NonceBytes;
    public static int AnswerBytes => Magic.Length + NonceBytes + TagBytes;
    public static int ConfirmBytes => Magic.Length + TagBytes;

    public enum Side { Dialler, Listener }

    /// <summary>The keys of an authenticated connection, one per direction, as seen from one side.</summary>
    public sealed record Keys(byte[] Send, byte[] Receive);

    public static byte[] NewNonce() => RandomNumberGenerator.GetBytes(NonceBytes);

    public static byte[] Hello(ReadOnlySpan<byte> diallerNonce) => [.. Magic, .. diallerNonce];

    /// <summary>The dialler's nonce, or null when <paramref name="frame"/> is not a Hello.</summary>
    public static byte[]? ReadHello(ReadOnlySpan<byte> frame) =>
        frame.Length == HelloBytes && frame.StartsWith(Magic) ? frame[Magic.Length..].ToArray() : null;

    public static byte[] Answer(SharedSecret secret, ReadOnlySpan<byte> diallerNonce, ReadOnlySpan<byte> listenerNonce) =>
        [.. Magic, .. listenerNonce, .. Proof(secret, Side.Listener, diallerNonce, listenerNonce)];

    /// <summary>The listener's nonce when <paramref name="frame"/> is an Answer that proves the secret; null otherwise.</summary>
    public static byte[]? ReadAnswer(SharedSecret secret, ReadOnlySpan<byte> diallerNonce, ReadOnlySpan<byte> frame)
    {
        if (frame.Length != AnswerBytes || !frame.StartsWith(Magic)) return null;
        var listenerNonce = frame.Slice(Magic.Length, NonceBytes);
        var proof = frame[(Magic.Length + NonceBytes)..];
        return CryptographicOperations.FixedTimeEquals(proof, Proof(secret, Side.Listener, diallerNonce, listenerNonce)) ? listenerNonce.ToArray() : null;
    }

    public static byte[] Confirm(SharedSecret secret, ReadOnlySpan<byte> diallerNonce, ReadOnlySpan<byte> listenerNonce) =>
        [.. Magic, .. Proof(secret, Side.Dialler, diallerNonce, listenerNonce)];

    public static bool ReadConfirm(SharedSecret secret, ReadOnlySpan<byte> diallerNonce, ReadOnlySpan<byte> listenerNonce, ReadOnlySpan<byte> frame) =>
        frame.Length == ConfirmBytes && frame.StartsWith(Magic)
        && CryptographicOperations.FixedTimeEquals(frame[Magic.Length..], Proof(secret, Side.Dialler, diallerNonce, listenerNonce));

    /// <summary>The connection's keys for <paramref name="side"/> (each side sends with the key the other receives with).</summary>
    public static Keys KeysFor(SharedSecret secret, Side side, ReadOnlySpan<byte> diallerNonce, ReadOnlySpan<byte> listenerNonce)
    {
        var fromDialler = secret.Mac(Message("key dialler->listener", diallerNonce, listenerNonce));
        var fromListener = secret.Mac(Message("key listener->dialler", diallerNonce, listenerNonce));
        return side == Side.Dialler ? new Keys(fromDialler, fromListener) : new Keys(fromListener, fromDialler);
    }

    /// <summary>payload ‖ HMAC(key, sequence ‖ payload).</summary>
    public static byte[] Seal(byte[] key, ulong sequence, ReadOnlySpan<byte> payload)
    {
        var frame = new byte[payload.Length + TagBytes];
        payload.CopyTo(frame);
        Tag(key, sequence, payload, frame.AsSpan(payload.Length));
        return frame;
    }

    /// <summary>The payload length of a sealed frame whose tag is right for <paramref name="sequence"/>; -1 when it is not.</summary>
    public static int Open(byte[] key, ulong sequence, ReadOnlySpan<byte> frame)
    {
        if (frame.Length < TagBytes) return -1;
        int n = frame.Length - TagBytes;
        Span<byte> expected = stackalloc byte[TagBytes];
        Tag(key, sequence, frame[..n], expected);
        return CryptographicOperations.FixedTimeEquals(expected, frame[n..]) ? n : -1;
    }

    private static void Tag(byte[] key, ulong sequence, ReadOnlySpan<byte> payload, Span<byte> into)
    {
        using var h = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, key);
        Span<byte> seq = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(seq, sequence);
        h.AppendData(seq);
        h.AppendData(payload);
        h.GetHashAndReset(into);
    }

    private static byte[] Proof(SharedSecret secret, Side side, ReadOnlySpan<byte> diallerNonce, ReadOnlySpan<byte> listenerNonce) =>
        secret.Mac(Message(side == Side.Dialler ? "dialler" : "listener", diallerNonce, listenerNonce));

    private static byte[] Message(string purpose, ReadOnlySpan<byte> diallerNonce, ReadOnlySpan<byte> listenerNonce)
    {
        var p = Encoding.ASCII.GetBytes(purpose);
        // fixed-length nonces after two length-prefixed labels: no two purposes or nonce pairs give the same input
        var m = new byte[4 + Label.Length + 4 + p.Length + diallerNonce.Length + listenerNonce.Length];
        var s = m.AsSpan();
        BinaryPrimitives.WriteInt32LittleEndian(s, Label.Length); Label.CopyTo(s[4..]); s = s[(4 + Label.Length)..];
        BinaryPrimitives.WriteInt32LittleEndian(s, p.Length); p.CopyTo(s[4..]); s = s[(4 + p.Length)..];
        diallerNonce.CopyTo(s); listenerNonce.CopyTo(s[diallerNonce.Length..]);
        return m;
    }
}
