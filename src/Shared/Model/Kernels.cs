using System.Numerics;

namespace DistRnn.Model;

/// <summary>The kernel training and evaluation use. Every node of a run must use the same one (its bits define the result).</summary>
public static class Kernels
{
    /// <summary>Today's model's kernel: the fast one for a 1-layer rnn.</summary>
    public static IShardKernel<T> Default<T>() where T : unmanaged, IFloatingPointIeee754<T> => FastKernel<T>.Instance;

    /// <summary>
    /// The kernel of <paramref name="shape"/> with dropout <paramref name="dropout"/>: the fast kernel for a 1-layer
    /// rnn without dropout (today's model, today's bits), <see cref="FastGatedKernel{T}"/> for every other (lstm, gru,
    /// stacked rnn, rnn with dropout). The readable <see cref="CellKernel{T}"/> is their oracle in the tests.
    /// </summary>
    public static IShardKernel<T> For<T>(ModelShape shape, double dropout = 0) where T : unmanaged, IFloatingPointIeee754<T> =>
        shape.IsElman && dropout == 0 ? Default<T>() : new FastGatedKernel<T>(dropout);
}
