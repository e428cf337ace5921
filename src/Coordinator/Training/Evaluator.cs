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

    /// <summary>
    /// <c>eval --state carry</c>: the windows as one stream, in order, each from the previous window's final state (the
    /// first from s_0 = 0) — the text read as a whole, as a model trained with carried states reads it. One window after
    /// another on the calling thread (the recurrence allows nothing else); the mean loss per character.
    /// </summary>
    public static (double Loss, long Chars) EvaluateCarried<T>(IShardKernel<T> kernel, Tensors<T> p, Activation act, int[] tokens, SequenceRef[] windows)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int n = p.Shape.StateSize;
        var state = new T[n];
        var next = new T[n];
        var sink = new LossSink<T>();
        var packed = kernel.Pack(p, gradients: false);
        ReadOnlySpan<int> bounds = [0, 1];
        foreach (var w in windows)
        {
            kernel.Run(p, act, tokens, [w], bounds, gradients: false, ref sink, packed, new CarriedState<T>(state, next));
            (state, next) = (next, state);
        }
        return (sink.Chars == 0 ? double.NaN : sink.Loss / sink.Chars, sink.Chars);
    }

    /// <summary>Σ loss and Σ characters of every window, in order.</summary>
    private struct LossSink<T> : IShardSink<T> where T : unmanaged, IFloatingPointIeee754<T>
    {
        public double Loss;
        public long Chars;
        public void OnShard(int shard, Tensors<T>? grad, double loss, long chars) { Loss += loss; Chars += chars; }
    }
}
