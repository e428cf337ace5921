using System.Numerics;
using DistRnn.Model;

namespace DistRnn.Coordinator.Training;

/// <summary>Mean loss per character over windows, in parallel blocks summed in a fixed order.</summary>
public static class Evaluator
{
    private const int Block = 32;

    public static (double Loss, long Chars) Evaluate<T>(IShardKernel<T> kernel, Tensors<T> p, Activation act, int[] tokens, SequenceRef[] windows, int parallelism)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int blocks = (windows.Length + Block - 1) / Block;
        var sums = new double[blocks];
        Parallel.For(0, blocks, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, parallelism) }, i =>
        {
            int from = i * Block, to = Math.Min(windows.Length, from + Block);
            sums[i] = kernel.Loss(p, act, tokens, windows.AsSpan(from, to - from));
        });
        double loss = 0; long chars = 0;
        foreach (var s in sums) loss += s;
        foreach (var w in windows) chars += w.Length;
        return (chars == 0 ? double.NaN : loss / chars, chars);
    }
}
