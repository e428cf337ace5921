using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace DistRnn.Model;

/// <summary>
/// The one little-endian IEEE-754 codec for tensors, whatever the host's endianness: params_sha256,
/// checkpoints and the wire all read and write their values through it.
/// </summary>
public static class TensorBytes
{
    public static byte[] ToBytes<T>(ReadOnlySpan<T> values) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var bytes = new byte[values.Length * Unsafe.SizeOf<T>()];
        Write(values, bytes);
        return bytes;
    }

    /// <summary>Writes values.Length × sizeof(T) bytes at the start of <paramref name="dest"/>.</summary>
    public static void Write<T>(ReadOnlySpan<T> values, Span<byte> dest) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var src = MemoryMarshal.AsBytes(values);
        src.CopyTo(dest);
        if (!BitConverter.IsLittleEndian) ReverseEach<T>(dest[..src.Length]);
    }

    /// <summary>Fills <paramref name="values"/> from the first values.Length × sizeof(T) bytes of <paramref name="src"/>.</summary>
    public static void Read<T>(ReadOnlySpan<byte> src, Span<T> values) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var dest = MemoryMarshal.AsBytes(values);
        src[..dest.Length].CopyTo(dest);
        if (!BitConverter.IsLittleEndian) ReverseEach<T>(dest);
    }

    private static void ReverseEach<T>(Span<byte> bytes) where T : unmanaged
    {
        int size = Unsafe.SizeOf<T>();
        for (int i = 0; i < bytes.Length; i += size) bytes.Slice(i, size).Reverse();
    }
}
