using System.Collections.Concurrent;
using System.Numerics;
using DistRnn.Model;
using DistRnn.Reduction;

namespace DistRnn.Compute;

/// <summary>
/// Computes the sum of a subtree of shards: every leaf with the kernel (in parallel on up to
/// <see cref="MaxParallelism"/> cores), then the fixed tree order. Used by the single-process loop
/// (the root) and by each worker (its assigned subtrees), so both give the same bits.
///
/// With the <see cref="FastKernel{T}"/> the subtree is cut into as many aligned sub-subtrees as there are
/// cores (a power of two); each core runs all of its leaves in one kernel pass (the recurrences of all its
/// sequences batched into bigger matrix products) and folds the leaf gradients into the tree as they come,
/// keeping at most log₂(leaves) + 1 gradients alive. Scratch gradients are pooled; the returned sum is
/// the only gradient allocated per call. The bits are those of the per-leaf computation: the kernel gives
/// each shard the same bits alone or batched, and the folds are exactly <see cref="ShardSum{T}.Combine"/>'s.
/// </summary>
public sealed class SubtreeComputer<T>(IShardKernel<T> kernel, int maxParallelism) where T : unmanaged, IFloatingPointIeee754<T>
{
    public int MaxParallelism { get; } = Math.Max(1, maxParallelism);
    public IShardKernel<T> Kernel => kernel;

    private readonly ConcurrentBag<Tensors<T>> pool = new();
    private readonly ConcurrentBag<DistRnn.Model.Fast.PackedParams<T>> packs = new();

    /// <summary>
    /// Pieces per core when several cores share a subtree: more pieces than cores let a core that finishes
    /// early take another (a busy machine does not give every thread the same time), fewer make bigger
    /// products. Each piece's recurrence reads all of W at every time step; once W is larger than a core's L2
    /// it streams from L3 each time, and one bigger piece per core halves that traffic. Measured on the 2-core
    /// machine (quiet, docs/benchmarks.md): 2 pieces beat 1 by a few % at hidden 256 (W 256 KB), tie at 384–512,
    /// and lose by 6 % at 1024 (W 4 MB); 4 pieces lose everywhere.
    /// </summary>
    public static int PiecesPerCore(ModelShape shape) =>
        (long)shape.D * shape.D * System.Runtime.CompilerServices.Unsafe.SizeOf<T>() >= 2L << 20 ? 1 : 2;

    /// <param name="into">
    /// where to put the sum's gradient (its old content is overwritten); null = a new gradient. A caller that
    /// consumes each result before asking for the next (the single-process loop) passes the same buffer every step.
    /// </param>
    public ShardSum<T> Compute(Tensors<T> p, Activation act, int[] tokens, SequenceRef[] batch, int shardCount, Subtree node, Tensors<T>? into = null)
    {
        if (into is not null && into.Shape != p.Shape) throw new ArgumentException("the result buffer has another shape than the parameters");
        if (kernel is FastKernel<T> fast) return ComputeBatched(fast, p, act, tokens, batch, shardCount, node, into);
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
        var sum = Reduce(leaves, 0, leaves.Length);
        if (into is null) return sum;
        sum.Grad.Data.AsSpan().CopyTo(into.Data);
        return new ShardSum<T>(into, sum.Loss, sum.Chars);
    }

    private ShardSum<T> ComputeBatched(FastKernel<T> fast, Tensors<T> p, Activation act, int[] tokens, SequenceRef[] batch, int shardCount, Subtree node, Tensors<T>? into)
    {
        int groups = 1, target = MaxParallelism == 1 ? 1 : MaxParallelism * PiecesPerCore(p.Shape);
        while (groups < target && groups < node.Count) groups *= 2;
        if (!packs.TryTake(out var packed)) packed = new DistRnn.Model.Fast.PackedParams<T>();
        fast.Pack(p, gradients: true, packed);
        int perGroup = node.Count / groups;
        var results = new ShardSum<T>[groups];
        void Group(int g) => results[g] = Pass(fast, packed, p, act, tokens, batch, shardCount,
            new Subtree(node.Level - BitOperations.Log2((uint)groups), node.Index * groups + g), g == 0 ? into ?? new Tensors<T>(p.Shape) : null);
        if (groups == 1) Group(0);
        else Parallel.For(0, groups, new ParallelOptions { MaxDegreeOfParallelism = MaxParallelism }, Group);
        packs.Add(packed);
        var root = Reduce(results, 0, groups);
        for (int g = 1; g < groups; g++) pool.Add(results[g].Grad);
        return root;
    }

    /// <summary>
    /// Packs <paramref name="p"/> (into <paramref name="into"/> when given) for <see cref="ComputePiece"/> calls on any
    /// threads, so a caller that cuts a step into pieces packs the parameters once, not once per piece. Null for a
    /// kernel that needs no packing.
    /// </summary>
    public DistRnn.Model.Fast.PackedParams<T>? Pack(Tensors<T> p, DistRnn.Model.Fast.PackedParams<T>? into = null) =>
        kernel is FastKernel<T> fast ? fast.Pack(p, gradients: true, into) : null;

    /// <summary>
    /// The sum of <paramref name="node"/> on the calling thread alone, into <paramref name="into"/> (overwritten):
    /// with the fast kernel all its leaves in one pass, with <paramref name="packed"/> from <see cref="Pack"/>.
    /// Same bits as <see cref="Compute"/>. For callers that run the pieces of a step on threads of their own.
    /// </summary>
    public ShardSum<T> ComputePiece(Tensors<T> p, DistRnn.Model.Fast.PackedParams<T>? packed, Activation act, int[] tokens, SequenceRef[] batch,
        int shardCount, Subtree node, Tensors<T> into)
    {
        if (into.Shape != p.Shape) throw new ArgumentException("the result buffer has another shape than the parameters");
        if (kernel is FastKernel<T> fast && packed is not null) return Pass(fast, packed, p, act, tokens, batch, shardCount, node, into);
        return new SubtreeComputer<T>(kernel, 1).Compute(p, act, tokens, batch, shardCount, node, into);
    }

    /// <summary>All leaves of <paramref name="node"/> in one kernel pass, folded into the tree as they come (the bottom into <paramref name="bottom"/>, else pooled).</summary>
    private ShardSum<T> Pass(FastKernel<T> fast, DistRnn.Model.Fast.PackedParams<T> packed, Tensors<T> p, Activation act, int[] tokens, SequenceRef[] batch,
        int shardCount, Subtree node, Tensors<T>? bottom)
    {
        int first = node.First, count = node.Count;
        int from = ShardStart(batch.Length, first, shardCount);
        Span<int> bounds = count <= 256 ? stackalloc int[count + 1] : new int[count + 1];
        for (int j = 0; j <= count; j++) bounds[j] = ShardStart(batch.Length, first + j, shardCount) - from;
        var sink = new TreeSink(this, p.Shape, bottom);
        fast.Run(p, act, tokens, batch.AsSpan(from, bounds[count]), bounds, gradients: true, ref sink, packed);
        return sink.Result();
    }

    private static int ShardStart(int batchLength, int shard, int shardCount) => (int)((long)shard * batchLength / shardCount);

    private Tensors<T> Rent(ModelShape shape)
    {
        while (pool.TryTake(out var t)) if (t.Shape == shape) return t;
        return new Tensors<T>(shape);
    }

    /// <summary>Folds leaves, arriving left to right, into the tree: a stack of completed left siblings.</summary>
    private struct TreeSink(SubtreeComputer<T> owner, ModelShape shape, Tensors<T>? bottom) : IShardSink<T>
    {
        private readonly ShardSum<T>?[] stack = new ShardSum<T>?[32];
        private readonly int[] level = new int[32];
        private int depth;

        public void OnShard(int shard, Tensors<T>? grad, double loss, long chars)
        {
            if (depth > 0 && level[depth - 1] == 0)
            {
                // The waiting left leaf + this right leaf (ShardSum.Combine without copying the right one).
                var left = stack[depth - 1]!;
                left.Grad.Add(grad!);
                stack[depth - 1] = new ShardSum<T>(left.Grad, left.Loss + loss, left.Chars + chars);
                level[depth - 1] = 1;
            }
            else
            {
                var buf = depth == 0 && bottom is not null ? bottom : owner.Rent(shape);
                grad!.Data.AsSpan().CopyTo(buf.Data);
                stack[depth] = new ShardSum<T>(buf, loss, chars);
                level[depth] = 0;
                depth++;
            }
            while (depth >= 2 && level[depth - 1] == level[depth - 2])
            {
                var right = stack[depth - 1]!;
                stack[depth - 2] = ShardSum<T>.Combine(stack[depth - 2]!, right);
                level[depth - 2]++;
                owner.pool.Add(right.Grad);
                stack[--depth] = null;
            }
        }

        public ShardSum<T> Result()
        {
            if (depth != 1) throw new InvalidOperationException($"a subtree's leaves did not fold into one node (depth {depth})");
            return stack[0]!;
        }
    }

    /// <summary>Tree-sums leaves[from..from+count) (count a power of two): left half + right half.</summary>
    public static ShardSum<T> Reduce(ShardSum<T>[] leaves, int from, int count)
    {
        if (count == 1) return leaves[from];
        int half = count / 2;
        return ShardSum<T>.Combine(Reduce(leaves, from, half), Reduce(leaves, from + half, half));
    }
}
