using System.Numerics;

namespace DistRnn.Model.Fast;

/// <summary>
/// The parameters laid out for <see cref="Gemm{T}"/>: rows padded to the micro-tile width with zeros
/// (Wp d×dp, Vp d×kp, Up k×dp, bp dp, cp kp) and the transposes the backward pass multiplies by
/// (Wt = Wᵀ d×dp, Vt = Vᵀ k×dp). Packed once per step and shared read-only by every core's kernel pass.
/// </summary>
public sealed unsafe class PackedParams<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    internal T[] Wp = [], Wt = [], Vp = [], Vt = [], Up = [], Bp = [], Cp = [];
    internal int D, K, Dp, Kp;
    internal bool Wide, HasTransposes;
    internal Tensors<T>? Source;

    /// <summary>Packs <paramref name="p"/> (with the transposes when <paramref name="transposes"/>); reuses the buffers.</summary>
    internal void Pack(Tensors<T> p, bool wide, bool transposes)
    {
        D = p.Shape.D; K = p.Shape.K; Wide = wide;
        Dp = Gemm<T>.Stride(D, wide); Kp = Gemm<T>.Pad(K, wide);
        PackRows(p.W, D, D, Workspace<T>.Ptr(ref Wp, (long)D * Dp), Dp);
        PackRows(p.V, D, K, Workspace<T>.Ptr(ref Vp, (long)D * Kp), Kp);
        PackRows(p.U, K, D, Workspace<T>.Ptr(ref Up, (long)K * Dp), Dp);
        PackRows(p.B, 1, D, Workspace<T>.Ptr(ref Bp, Dp), Dp);
        PackRows(p.C, 1, K, Workspace<T>.Ptr(ref Cp, Kp), Kp);
        if (transposes)
        {
            PackTransposed(p.W, D, D, Workspace<T>.Ptr(ref Wt, (long)D * Dp), Dp);
            PackTransposed(p.V, D, K, Workspace<T>.Ptr(ref Vt, (long)K * Dp), Dp);
        }
        HasTransposes = transposes;
        Source = p;
    }

    internal static T* P(T[] a) => (T*)System.Runtime.CompilerServices.Unsafe.AsPointer(ref System.Runtime.InteropServices.MemoryMarshal.GetArrayDataReference(a));

    /// <summary>rows×cols (row-major, stride cols) → rows×ld with zero padding.</summary>
    private static void PackRows(ReadOnlySpan<T> src, int rowsN, int cols, T* dst, int ld)
    {
        for (int i = 0; i < rowsN; i++)
        {
            var row = new Span<T>(dst + (long)i * ld, ld);
            src.Slice(i * cols, cols).CopyTo(row);
            row[cols..].Clear();
        }
    }

    /// <summary>src rows×cols → its transpose cols×rows with rows padded to ld (blocked for the cache).</summary>
    private static void PackTransposed(ReadOnlySpan<T> src, int rowsN, int cols, T* dst, int ld)
    {
        const int Blk = 32;
        fixed (T* ps = src)
        {
            for (int c0 = 0; c0 < cols; c0 += Blk)
                for (int r0 = 0; r0 < rowsN; r0 += Blk)
                {
                    int cEnd = Math.Min(cols, c0 + Blk), rEnd = Math.Min(rowsN, r0 + Blk);
                    for (int c = c0; c < cEnd; c++)
                        for (int r = r0; r < rEnd; r++) dst[(long)c * ld + r] = ps[(long)r * cols + c];
                }
        }
        for (int c = 0; c < cols; c++) new Span<T>(dst + (long)c * ld + rowsN, ld - rowsN).Clear();
    }
}
