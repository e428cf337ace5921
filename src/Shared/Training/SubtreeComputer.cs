using System.Numerics;
using DistRnn.Model;

namespace DistRnn.Training;

/// <summary>
/// Computes the sum of a subtree of shards: every leaf with the kernel (in parallel on up to
/// <see cref="MaxParallelism"/> cores), then the fixed tree order. Used by the single-process loop
/// (the root) and by each worker (its assigned subtrees), so both give the same bits.
/// </summary>
public sealed class SubtreeComputer<T>(IShardKernel<T> kernel, int maxParallelism) where T : unmanaged, IFloatingPointIeee754<T>
{
    public int MaxParallelism { get; } = Math.Max(1, maxParallelism);
    public IShardKernel<T> Kernel => kernel;

    public ShardSum<T> Compute(Tensors<T> p, Activation act, int[] tokens, SequenceRef[] batch, int shardCount, Subtree node)
    {
        var leaves = new ShardSum<T>[node.Count];
        var options = new ParallelOptions { MaxDegreeOfParallelism = MaxParallelism };
        Parallel.For(0, node.Count, options, i =>
        {
            int shard = node.First + i;
            var grad = new Tensors<T>(p.Shape);
            var seqs = ShardPlan.Shard(batch, shard, shardCount);
            double loss = kernel.Accumulate(p, act, tokens, seqs, grad);
            long chars = 0;
            foreach (var s in seqs) chars += s.Length;
            leaves[i] = new ShardSum<T>(grad, loss, chars);
        });
        return Reduce(leaves, 0, leaves.Length);
    }

    /// <summary>Tree-sums leaves[from..from+count) (count a power of two): left half + right half.</summary>
    public static ShardSum<T> Reduce(ShardSum<T>[] leaves, int from, int count)
    {
        if (count == 1) return leaves[from];
        int half = count / 2;
        return ShardSum<T>.Combine(Reduce(leaves, from, half), Reduce(leaves, from + half, half));
    }
}
