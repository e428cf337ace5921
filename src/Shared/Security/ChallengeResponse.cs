using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace DistRnn.Security;

/// <summary>
/// What a registration proof is bound to, besides the nonce: a proof made for one run, corpus,
/// configuration, protocol or worker address is worthless for any other. Binding the worker's own address
/// stops a relay (a rogue node that poses as a coordinator to a real worker, to get a proof for the nonce
/// the real coordinator gave the rogue node, would present it from its own address).
/// </summary>
public sealed record RegistrationContext(int ProtocolVersion, string RunId, string CorpusSha256, string ConfigFingerprint, string WorkerAddress);

/// <summary>Who proves: the worker answers the coordinator's nonce; the coordinator may answer the worker's.</summary>
public enum ProofRole { Worker, Coordinator }

/// <summary>
/// Challenge–response registration with a shared secret: the verifier sends a fresh random nonce, the
/// prover answers HMAC-SHA256(secret, label ‖ role ‖ context ‖ nonce), the verifier recomputes it and compares
/// in constant time. The secret never crosses the wire; a nonce is used once, so a recorded proof cannot be
/// replayed. Every field is length-prefixed, so no two different contexts give the same MAC input.
/// </summary>
public static class ChallengeResponse
{
    public const int NonceBytes = 32;
    public const int ProofBytes = 32; // HMAC-SHA256

    private static readonly byte[] Label = Encoding.ASCII.GetBytes("distrnn/registration/v1");

    /// <summary>A fresh nonce from the operating system's CSPRNG.</summary>
    public static byte[] NewNonce() => RandomNumberGenerator.GetBytes(NonceBytes);

    public static byte[] Prove(SharedSecret secret, ProofRole role, ReadOnlySpan<byte> nonce, RegistrationContext context)
    {
        if (nonce.Length != NonceBytes) throw new ArgumentException($"a nonce has {NonceBytes} bytes, got {nonce.Length}");
        return secret.Mac(Message(role, nonce, context));
    }

    /// <summary>True when <paramref name="proof"/> is the MAC the holder of the same secret would send (constant-time compare).</summary>
    public static bool Verify(SharedSecret secret, ProofRole role, ReadOnlySpan<byte> nonce, RegistrationContext context, ReadOnlySpan<byte> proof)
    {
        if (nonce.Length != NonceBytes || proof.Length != ProofBytes) return false;
        var expected = secret.Mac(Message(role, nonce, context));
        return CryptographicOperations.FixedTimeEquals(expected, proof);
    }

    internal static byte[] Message(ProofRole role, ReadOnlySpan<byte> nonce, RegistrationContext c)
    {
        using var ms = new MemoryStream();
        Field(ms, Label);
        Field(ms, [(byte)role]);
        Span<byte> v = stackalloc byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(v, c.ProtocolVersion);
        Field(ms, v);
        Field(ms, Encoding.UTF8.GetBytes(c.RunId));
        Field(ms, Encoding.UTF8.GetBytes(c.CorpusSha256));
        Field(ms, Encoding.UTF8.GetBytes(c.ConfigFingerprint));
        Field(ms, Encoding.UTF8.GetBytes(c.WorkerAddress));
        Field(ms, nonce);
        return ms.ToArray();
    }

    private static void Field(MemoryStream ms, ReadOnlySpan<byte> bytes)
    {
        Span<byte> len = stackalloc byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(len, bytes.Length);
        ms.Write(len);
        ms.Write(bytes);
    }
}
