using System.Numerics;
using DistRnn.Util;

namespace DistRnn.Model;

/// <summary>PyTorch nn.RNN's initialisation: every parameter uniform in (−1/√d, 1/√d), from the seed alone.</summary>
public static class Initializer
{
    public static Tensors<T> Uniform<T>(ModelShape shape, long seed) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var p = new Tensors<T>(shape);
        var rng = Rng.For(seed, Rng.Purpose.Init, 0);
        double bound = 1.0 / Math.Sqrt(shape.Hidden);
        for (int i = 0; i < p.Data.Length; i++)
            p.Data[i] = T.CreateTruncating((2 * rng.NextDouble() - 1) * bound);
        return p;
    }
}
