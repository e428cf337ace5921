using System.Buffers;
using System.Buffers.Binary;
using DistRnn.Protocol;

namespace DistRnn.Transport.DataChannel;

/// <summary>
/// One frame of the data channel: a 5-byte header — the body's length (int32, little-endian) and the message
/// code (1 = <see cref="ComputeSubtrees"/>, 2 = <see cref="SubtreeResult"/>; the tree data plane's 3 = <see cref="TreeStep"/>,
/// 4 = <see cref="TreeParameters"/>, 5 = <see cref="TreeSum"/>) — then the body, written by the same
/// <see cref="ProtocolSerializer"/> code as on the Akka path, so the tensor bytes are the same bits (raw
/// little-endian IEEE-754). A reader checks the length against the largest frame the model allows before it
/// reads a byte of the body, and the body against the serializer's limits, so a truncated, oversized or
/// garbage frame is refused without an allocation larger than the model.
/// </summary>
public static class DataFrame
{
    public const int HeaderBytes = 5;
    public const byte ComputeCode = 1, ResultCode = 2, TreeStepCode = 3, TreeParametersCode = 4, TreeSumCode = 5;

    /// <summary>Room for everything besides the tensor (run id, step, subtree list, loss, …).</summary>
    public const int OverheadBytes = 64 * 1024;

    /// <summary>The largest body a channel of a model of <paramref name="maxTensorValues"/> values (8 bytes each at most) accepts.</summary>
    public static int MaxBodyBytes(int maxTensorValues) => (int)Math.Min(int.MaxValue - HeaderBytes, (long)maxTensorValues * 8 + OverheadBytes);

    public static byte CodeOf(object message) => message switch
    {
        ComputeSubtrees => ComputeCode,
        SubtreeResult => ResultCode,
        TreeStep => TreeStepCode,
        TreeParameters => TreeParametersCode,
        TreeSum => TreeSumCode,
        _ => throw new ArgumentException($"the data channel carries no {message.GetType().Name}"),
    };

    private static string Manifest(byte code) => code switch
    {
        ComputeCode => ProtocolSerializer.ComputeCode,
        ResultCode => ProtocolSerializer.ResultCode,
        TreeStepCode => ProtocolSerializer.TreeStepCode,
        TreeParametersCode => ProtocolSerializer.TreeParametersCode,
        TreeSumCode => ProtocolSerializer.TreeSumCode,
        _ => throw new ProtocolException($"unknown frame code {code}"),
    };

    /// <summary>
    /// Writes <paramref name="message"/> as one frame into a buffer rented from <paramref name="pool"/>; the caller
    /// returns the buffer after sending its first <c>Length</c> bytes.
    /// </summary>
    public static (byte[] Buffer, int Length) Encode(object message, ArrayPool<byte> pool)
    {
        var (buffer, length, _) = Write(message, pool, valuesApart: 0);
        return (buffer, length);
    }

    /// <summary>
    /// The same frame as <see cref="Encode"/>, in two parts that are sent one after the other: the header and every
    /// field up to the tensor's values in a buffer rented from <paramref name="pool"/> (its first <c>Length</c>
    /// bytes), then the values straight from the sender's array (<c>Values</c>; no copy). Where the values cannot be
    /// sent from an array (a payload read from the wire, a big-endian host) they are in the buffer and Values is empty.
    /// </summary>
    public static (byte[] Buffer, int Length, ReadOnlyMemory<byte> Values) EncodeParts(object message, ArrayPool<byte> pool)
    {
        var values = message switch
        {
            ComputeSubtrees m => m.Parameters.SenderBytes(),
            SubtreeResult m => m.Gradient.SenderBytes(),
            TreeParameters m => m.Values.SenderBytes(),
            TreeSum m => m.Values.SenderBytes(),
            _ => ReadOnlyMemory<byte>.Empty,
        };
        var (buffer, head, deferred) = Write(message, pool, valuesApart: values.Length);
        if (!values.IsEmpty && deferred?.ByteLength != values.Length)
        {
            pool.Return(buffer);
            throw new InvalidOperationException($"{message.GetType().Name}: its tensor was not the message's last field");
        }
        return (buffer, head, values);
    }

    /// <summary>Header and body into a rented buffer, less the last <paramref name="valuesApart"/> bytes (a tensor's values, then left out).</summary>
    private static (byte[] Buffer, int Length, TensorPayload? Deferred) Write(object message, ArrayPool<byte> pool, int valuesApart)
    {
        byte code = CodeOf(message);
        var counter = new WireWriter(null);
        ProtocolSerializer.Write(message, ref counter);
        int body = counter.Length, length = HeaderBytes + body - valuesApart;
        var buffer = pool.Rent(length);
        BinaryPrimitives.WriteInt32LittleEndian(buffer, body);
        buffer[4] = code;
        var writer = new WireWriter(buffer, HeaderBytes, deferTensorValues: valuesApart > 0);
        ProtocolSerializer.Write(message, ref writer);
        return (buffer, length, writer.Deferred);
    }

    /// <summary>The body's length from a header, after checking it against <paramref name="maxBody"/> and the codes <paramref name="allowed"/>.</summary>
    public static (int Length, byte Code) Header(ReadOnlySpan<byte> header, int maxBody, ReadOnlySpan<byte> allowed)
    {
        int length = BinaryPrimitives.ReadInt32LittleEndian(header);
        byte code = header[4];
        if (!allowed.Contains(code)) throw new ProtocolException($"unexpected frame code {code}");
        if (length <= 0 || length > maxBody) throw new ProtocolException($"frame of {length} bytes is outside 1..{maxBody} (the model's size)");
        return (length, code);
    }

    /// <summary>Decodes a body (the first <paramref name="length"/> bytes of <paramref name="body"/>); its tensor stays a slice of <paramref name="body"/>.</summary>
    public static object Decode(byte code, byte[] body, int length, WireLimits limits) =>
        ProtocolSerializer.Read(body, Manifest(code), limits, length);
}
