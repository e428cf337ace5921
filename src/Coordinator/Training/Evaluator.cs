using System.Numerics;
using DistRnn.Compute;
using DistRnn.Model;

namespace DistRnn.Coordinator.Training;

/// <summary>Mean loss per character over windows, in parallel blocks summed in a fixed order.</summary>
public static class Evaluator
{
    private const int Block = 32;

    /// <summary>
    /// On a crew of <paramref name="parallelism"/> threads of its own, for this evaluation alone (off the thread pool,
    /// where Akka's heartbeats run; validation is rare enough that threads held between evaluations would buy nothing).
    /// </summary>
    public static (double Loss, long Chars) Evaluate<T>(IShardKernel<T> kernel, Tensors<T> p, Activation act, int[] tokens, SequenceRef[] windows, int parallelism)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int blocks = (windows.Length + Block - 1) / Block;
        var sums = new double[blocks];
        using (var crew = new ComputeCrew(Math.Min(Math.Max(1, parallelism), Math.Max(1, blocks)), "distrnn-eval"))
        {
            int next = -1;
            crew.Submit(() => crew.Together(_ =>
            {
                for (int i = Interlocked.Increment(ref next); i < blocks; i = Interlocked.Increment(ref next))
                {
                    int from = i * Block, to = Math.Min(windows.Length, from + Block);
                    sums[i] = kernel.Loss(p, act, tokens, windows.AsSpan(from, to - from));
                }
            })).GetAwaiter().GetResult();
        }
        double loss = 0; long chars = 0;
        foreach (var s in sums) loss += s;
        foreach (var w in windows) chars += w.Length;
        return (chars == 0 ? double.NaN : loss / chars, chars);
    }
}
