using System.Numerics;
using DistRnn.Model;

namespace DistRnn.Protocol;

/// <summary>
/// A flat tensor on the wire: its precision, its element count and the values as raw little-endian
/// IEEE-754 (float32 for float32 runs, float64 for float64). A sender wraps its array without copying;
/// a receiver keeps a slice of the received frame and decodes it once, into the array it needs.
/// </summary>
public sealed class TensorPayload
{
    private readonly Array? _values;          // sender side: float[] or double[]
    private readonly ReadOnlyMemory<byte> _bytes; // receiver side: little-endian bytes

    private TensorPayload(Precision precision, int count, Array? values, ReadOnlyMemory<byte> bytes)
    {
        Precision = precision; Count = count; _values = values; _bytes = bytes;
    }

    public Precision Precision { get; }
    public int Count { get; }
    public int ByteLength => Count * Precision.Bytes();

    public static Precision PrecisionOf<T>() =>
        typeof(T) == typeof(float) ? Precision.Float32
        : typeof(T) == typeof(double) ? Precision.Float64
        : throw new NotSupportedException($"no wire format for {typeof(T).Name}");

    public static int PrecisionBytes<T>() => PrecisionOf<T>().Bytes();

    /// <summary>Wraps <paramref name="values"/> (not copied: do not change it until the message is sent).</summary>
    public static TensorPayload Wrap<T>(T[] values) where T : unmanaged, IFloatingPointIeee754<T>
        => new(PrecisionOf<T>(), values.Length, values, default);

    /// <summary>A payload read from the wire; <paramref name="bytes"/> must hold exactly count values.</summary>
    public static TensorPayload FromWire(Precision precision, int count, ReadOnlyMemory<byte> bytes)
    {
        if (count < 0 || bytes.Length != (long)count * precision.Bytes())
            throw new ProtocolException($"tensor of {count} {precision.Name()} values cannot have {bytes.Length} bytes");
        return new TensorPayload(precision, count, null, bytes);
    }

    /// <summary>Writes the values as little-endian bytes into <paramref name="into"/> (exactly <see cref="ByteLength"/> bytes).</summary>
    public void WriteTo(Span<byte> into)
    {
        if (_values is null) { _bytes.Span.CopyTo(into); return; }
        if (_values is float[] f) TensorBytes.Write<float>(f, into);
        else TensorBytes.Write<double>((double[])_values, into);
    }

    /// <summary>
    /// The sender's values as little-endian bytes, without a copy (the array itself, seen as bytes); empty for a
    /// payload read from the wire, an empty one, or on a big-endian host — the caller then writes <see cref="WriteTo"/>'s copy.
    /// </summary>
    internal ReadOnlyMemory<byte> SenderBytes()
    {
        if (!BitConverter.IsLittleEndian || Count == 0) return ReadOnlyMemory<byte>.Empty;
        return _values switch
        {
            float[] f => new ByteView<float>(f).Memory,
            double[] d => new ByteView<double>(d).Memory,
            _ => ReadOnlyMemory<byte>.Empty,
        };
    }

    /// <summary>The sender's own array (a payload made by <see cref="Wrap{T}"/>), without a copy; false for one read from the wire.</summary>
    public bool TryGetArray<T>(out T[] values) where T : unmanaged, IFloatingPointIeee754<T>
    {
        values = _values as T[] ?? [];
        return _values is T[];
    }

    /// <summary>A copy that owns its bytes (of a payload that is a slice of a pooled frame, say), whatever the precision.</summary>
    public TensorPayload Detached()
    {
        var bytes = new byte[ByteLength];
        WriteTo(bytes);
        return FromWire(Precision, Count, bytes);
    }

    /// <summary>The values as a new T[], after checking precision and (when given) the expected count.</summary>
    public T[] ToArray<T>(int? expectedCount = null) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Check<T>(expectedCount);
        var result = new T[Count];
        CopyTo(result);
        return result;
    }

    /// <summary>The values into <paramref name="destination"/> (exactly <see cref="Count"/> long), after checking the precision.</summary>
    public void CopyTo<T>(T[] destination) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Check<T>(destination.Length);
        if (_values is T[] mine) { mine.CopyTo(destination, 0); return; }
        TensorBytes.Read<T>(_bytes.Span, destination);
    }

    private void Check<T>(int? expectedCount) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (PrecisionOf<T>() != Precision)
            throw new ProtocolException($"expected a {PrecisionOf<T>().Name()} tensor, got {Precision.Name()}");
        if (expectedCount is int n && n != Count)
            throw new ProtocolException($"expected a tensor of {n} values, got {Count}");
    }

    public override string ToString() => $"{Count}×{Precision.Name()}";

}

/// <summary>A message could not be read or does not fit the run (bad length, wrong precision or shape).</summary>
public sealed class ProtocolException(string message) : Exception(message);
