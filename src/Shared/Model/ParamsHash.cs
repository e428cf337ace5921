using System.Buffers.Binary;
using System.Numerics;
using System.Security.Cryptography;

namespace DistRnn.Model;

/// <summary>params_sha256: SHA-256 of U, W, V, b, c in that order, row-major, little-endian IEEE-754 in the training precision.</summary>
public static class ParamsHash
{
    public static string Sha256<T>(Tensors<T> p) where T : unmanaged, IFloatingPointIeee754<T>
        => Convert.ToHexStringLower(SHA256.HashData(TensorBytes.ToBytes<T>(p.Data)));
}

/// <summary>Raw little-endian bytes of a tensor, whatever the host's endianness.</summary>
public static class TensorBytes
{
    public static byte[] ToBytes<T>(ReadOnlySpan<T> values) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var bytes = new byte[values.Length * System.Runtime.CompilerServices.Unsafe.SizeOf<T>()];
        Write(values, bytes);
        return bytes;
    }

    public static void Write<T>(ReadOnlySpan<T> values, Span<byte> dest) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var src = System.Runtime.InteropServices.MemoryMarshal.AsBytes(values);
        src.CopyTo(dest);
        if (!BitConverter.IsLittleEndian) ReverseEach<T>(dest[..src.Length]);
    }

    public static void Read<T>(ReadOnlySpan<byte> src, Span<T> values) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var dest = System.Runtime.InteropServices.MemoryMarshal.AsBytes(values);
        src[..dest.Length].CopyTo(dest);
        if (!BitConverter.IsLittleEndian) ReverseEach<T>(dest);
    }

    private static void ReverseEach<T>(Span<byte> bytes) where T : unmanaged
    {
        int size = System.Runtime.CompilerServices.Unsafe.SizeOf<T>();
        for (int i = 0; i < bytes.Length; i += size) bytes.Slice(i, size).Reverse();
    }
}
