using System.Numerics;

namespace DistRnn.Model;

/// <summary>The kernel training and evaluation use. Every node of a run must use the same one (its bits define the result).</summary>
public static class Kernels
{
    public static IShardKernel<T> Default<T>() where T : unmanaged, IFloatingPointIeee754<T> => FastKernel<T>.Instance;
}
