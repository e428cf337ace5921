using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace DistRnn.Model.Fast;

/// <summary>
/// Scratch memory of <see cref="FastKernel{T}"/>, one per thread and element type, grown on demand and
/// reused from call to call, so a training step allocates nothing once the shapes have been seen.
/// Arrays are pinned (pinned object heap) so the kernel can hand raw pointers to <see cref="Gemm{T}"/>.
/// </summary>
internal sealed unsafe class Workspace<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    [ThreadStatic] private static Workspace<T>? current;

    public static Workspace<T> Current => current ??= new Workspace<T>();

    // Parameters packed for this thread's calls when the caller brings none.
    public readonly PackedParams<T> Packed = new();
    // Activations: S (s_0 block + all rows) ×dp, dS ×dp, Z ×kp.
    public T[] S = [], DS = [], Z = [];
    // One shard's rows gathered contiguously: s_{t−1}, s_t, da_t (×dp), dz_t (×kp); its dW, dV.
    public T[] GPrev = [], GS = [], GA = [], GZ = [], DW = [], DV = [];
    public double[] E = [];
    public int[] Order = [], Count = [], Offset = [], RowX = [], RowTarget = [], RowSeq = [], ShardOf = [], Rows = [];
    public double[] Losses = [];
    public long[] Chars = [];
    private Tensors<T>? grad;

    /// <summary>A cleared gradient of this shape, owned by the workspace (valid until the next call on this thread).</summary>
    public Tensors<T> Grad(ModelShape shape)
    {
        if (grad is null || grad.Shape != shape) grad = new Tensors<T>(shape);
        else grad.Clear();
        return grad;
    }

    public static T* Ptr(ref T[] a, long n)
    {
        if (a.Length < n) a = GC.AllocateUninitializedArray<T>(checked((int)Math.Max(n, a.Length * 5L / 4)), pinned: true);
        return (T*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(a));
    }

    public static TE[] Ensure<TE>(ref TE[] a, int n)
    {
        if (a.Length < n) a = new TE[Math.Max(n, a.Length * 5 / 4)];
        return a;
    }
}
