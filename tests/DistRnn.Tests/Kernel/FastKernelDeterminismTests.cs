using System.Numerics;
using System.Runtime.Intrinsics;
using DistRnn.Compute;
using DistRnn.Model;
using DistRnn.Model.Fast;
using DistRnn.Reduction;
using Xunit;
using static DistRnn.Tests.Kernel.FastKernelTests;

namespace DistRnn.Tests.Kernel;

/// <summary>The fast kernel's bits depend only on its input: not on repetition, threads, batching of shards, or vector width.</summary>
public class FastKernelDeterminismTests
{
    private static bool SameBits<T>(Tensors<T> a, Tensors<T> b) where T : unmanaged, IFloatingPointIeee754<T>
        => a.Data.AsSpan().SequenceEqual(b.Data);

    private sealed class Collect<T> where T : unmanaged, IFloatingPointIeee754<T>
    {
        public readonly List<(Tensors<T> Grad, double Loss, long Chars)> Shards = new();
    }

    private struct CollectSink<T>(Collect<T> into) : IShardSink<T> where T : unmanaged, IFloatingPointIeee754<T>
    {
        public void OnShard(int shard, Tensors<T>? grad, double loss, long chars)
        {
            Assert.Equal(into.Shards.Count, shard);
            into.Shards.Add((grad!.Clone(), loss, chars));
        }
    }

    private static void ShardsBatchedEqualShardsAlone<T>(int[] lengths, int[] bounds) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var shape = new ModelShape(65, 40);
        var p = RandomParams<T>(shape, 11, 0.4);
        var tokens = RandomTokens(2000, 65, 12);
        var seqs = RandomSeqs(lengths, tokens.Length, 13);
        var all = new Collect<T>();
        var sink = new CollectSink<T>(all);
        FastKernel<T>.Instance.Run(p, Activation.Tanh, tokens, seqs, bounds, gradients: true, ref sink);
        Assert.Equal(bounds.Length - 1, all.Shards.Count);
        for (int j = 0; j + 1 < bounds.Length; j++)
        {
            var alone = new Tensors<T>(shape);
            var part = seqs.AsSpan(bounds[j], bounds[j + 1] - bounds[j]);
            double loss = FastKernel<T>.Instance.Accumulate(p, Activation.Tanh, tokens, part, alone);
            Assert.True(SameBits(alone, all.Shards[j].Grad), $"shard {j}: batched gradient differs from the shard alone");
            Assert.Equal(loss, all.Shards[j].Loss);
            long chars = 0; foreach (var s in part) chars += s.Length;
            Assert.Equal(chars, all.Shards[j].Chars);
        }
    }

    [Fact]
    public void A_shard_has_the_same_bits_batched_with_others_or_alone()
    {
        ShardsBatchedEqualShardsAlone<float>([10, 10, 10, 10, 10, 10], [0, 2, 4, 6]);
        ShardsBatchedEqualShardsAlone<double>([10, 10, 10, 10, 10, 10], [0, 2, 4, 6]);
        ShardsBatchedEqualShardsAlone<float>([10, 3, 12, 12, 1, 7, 12], [0, 1, 4, 7]);
        ShardsBatchedEqualShardsAlone<double>([5, 9, 9, 2, 9, 9], [0, 3, 6]);
    }

    [Fact]
    public void Two_runs_give_identical_bits()
    {
        var shape = new ModelShape(65, 48);
        var p = RandomParams<float>(shape, 21, 0.3);
        var tokens = RandomTokens(3000, 65, 22);
        var seqs = RandomSeqs([32, 32, 32, 32, 20], tokens.Length, 23);
        var a = new Tensors<float>(shape); var b = new Tensors<float>(shape);
        double la = FastKernel<float>.Instance.Accumulate(p, Activation.Sigmoid, tokens, seqs, a);
        double lb = FastKernel<float>.Instance.Accumulate(p, Activation.Sigmoid, tokens, seqs, b);
        Assert.True(SameBits(a, b));
        Assert.Equal(la, lb);
        // And on another thread (a fresh workspace).
        var c = new Tensors<float>(shape);
        double lc = 0;
        var thread = new Thread(() => lc = FastKernel<float>.Instance.Accumulate(p, Activation.Sigmoid, tokens, seqs, c));
        thread.Start(); Assert.True(thread.Join(TimeSpan.FromSeconds(60)));
        Assert.True(SameBits(a, c));
        Assert.Equal(la, lc);
    }

    private static void SubtreeIndependentOfThreads<T>(int batch, int shardCount, int d) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var shape = new ModelShape(65, d);
        var p = RandomParams<T>(shape, 31, 0.3);
        var tokens = RandomTokens(5000, 65, 32);
        var seqs = RandomSeqs(Enumerable.Repeat(24, batch).ToArray(), tokens.Length, 33);
        var root = Subtree.Root(shardCount);

        // Reference: every leaf alone with the fast kernel, then the fixed tree.
        var leaves = new ShardSum<T>[shardCount];
        for (int j = 0; j < shardCount; j++)
        {
            var g = new Tensors<T>(shape);
            var part = ShardPlan.Shard(seqs, j, shardCount);
            double l = FastKernel<T>.Instance.Accumulate(p, Activation.Tanh, tokens, part, g);
            long chars = 0; foreach (var s in part) chars += s.Length;
            leaves[j] = new ShardSum<T>(g, l, chars);
        }
        // Combine adds into the left operand: the tree gets copies, the leaves are used again below.
        var expected = TreeSum(leaves.Select(l => new ShardSum<T>(l.Grad.Clone(), l.Loss, l.Chars)).ToArray(), 0, shardCount);

        foreach (int threads in new[] { 1, 2, 3, 4 })
        {
            using var computer = new SubtreeComputer<T>(FastKernel<T>.Instance, threads);
            for (int rep = 0; rep < 3; rep++)   // later steps reuse the pooled (dirty) buffers of earlier ones
            {
                var sum = computer.ComputeAsync(rep + 1, p, Activation.Tanh, tokens, seqs, shardCount, root).GetAwaiter().GetResult();
                Assert.True(SameBits(expected.Grad, sum.Grad), $"{threads} threads, repetition {rep}: the root differs");
                Assert.Equal(expected.Loss, sum.Loss);
                Assert.Equal(expected.Chars, sum.Chars);
            }
            // Every subtree of level 1 too (what a worker is given).
            for (int i = 0; i < shardCount / 2; i++)
            {
                var node = new Subtree(1, i);
                var part = computer.ComputeAsync(4, p, Activation.Tanh, tokens, seqs, shardCount, node).GetAwaiter().GetResult();
                var left = new ShardSum<T>(leaves[2 * i].Grad.Clone(), leaves[2 * i].Loss, leaves[2 * i].Chars);
                var want = ShardSum<T>.Combine(left, leaves[2 * i + 1]);
                Assert.True(SameBits(want.Grad, part.Grad), $"{threads} threads: subtree {node} differs");
            }
        }

        // The plain kernel through the same engine: its leaves alone, then the same tree.
        var plainLeaves = new ShardSum<T>[shardCount];
        for (int j = 0; j < shardCount; j++)
        {
            var g = new Tensors<T>(shape);
            var part = ShardPlan.Shard(seqs, j, shardCount);
            double l = PlainKernel<T>.Instance.Accumulate(p, Activation.Tanh, tokens, part, g);
            long chars = 0; foreach (var s in part) chars += s.Length;
            plainLeaves[j] = new ShardSum<T>(g, l, chars);
        }
        var plainExpected = TreeSum(plainLeaves, 0, shardCount);
        using var plain = new SubtreeComputer<T>(PlainKernel<T>.Instance, 2);
        var plainSum = plain.ComputeAsync(1, p, Activation.Tanh, tokens, seqs, shardCount, root).GetAwaiter().GetResult();
        Assert.True(SameBits(plainExpected.Grad, plainSum.Grad), "the plain kernel's root differs");
        Assert.Equal(plainExpected.Loss, plainSum.Loss);
    }

    /// <summary>leaves[from..from+count) (count a power of two) summed as the fixed tree: left half + right half.</summary>
    private static ShardSum<T> TreeSum<T>(ShardSum<T>[] leaves, int from, int count) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (count == 1) return leaves[from];
        int half = count / 2;
        return ShardSum<T>.Combine(TreeSum(leaves, from, half), TreeSum(leaves, from + half, half));
    }

    [Fact]
    public void Subtree_sums_do_not_depend_on_the_thread_count()
    {
        SubtreeIndependentOfThreads<float>(batch: 16, shardCount: 8, d: 30);
        SubtreeIndependentOfThreads<double>(batch: 12, shardCount: 4, d: 19);
    }

    [Fact]
    public void Gemm_equals_a_scalar_chain_of_fused_multiply_adds()
    {
        // Each output element must be fma(a_K−1, b_K−1, … fma(a_0, b_0, c)): this is what makes the result
        // independent of vector width, tiling and cache blocking (K > 256 crosses a cache block).
        // Both paths: 256-bit everywhere, 512-bit where the host has AVX-512.
        foreach (bool wide in Vector512.IsHardwareAccelerated ? new[] { false, true } : new[] { false })
        {
            Check<float>(M: 7, N: Gemm<float>.Nr(wide) * 2, K: 300, transposed: false, wide);
            Check<float>(M: 13, N: Gemm<float>.Nr(wide), K: 5, transposed: true, wide);
            Check<float>(M: 16, N: Gemm<float>.Nr(wide) * 3, K: 70, transposed: false, wide);
            Check<double>(M: 70, N: Gemm<double>.Nr(wide) * 3, K: 260, transposed: true, wide);
            Check<double>(M: 3, N: Gemm<double>.Nr(wide), K: 1, transposed: false, wide);
            Check<float>(M: 32, N: Gemm<float>.Nr(wide) * 4, K: 256, transposed: false, wide, pad: 16);  // a recurrence's shape: one whole depth block
            Check<double>(M: 31, N: Gemm<double>.Nr(wide) * 2, K: 517, transposed: false, wide, pad: 4);
            // The packed paths: several depth blocks (K > 2·256), more rows than one row block (128) ending in a
            // partial micro-tile, leading dimensions wider than the matrices, both layouts of A.
            Check<float>(M: 131, N: Gemm<float>.Nr(wide) * 5, K: 600, transposed: false, wide, pad: 40);
            Check<float>(M: 133, N: Gemm<float>.Nr(wide) * 2, K: 513, transposed: true, wide, pad: 8);
            Check<double>(M: 130, N: Gemm<double>.Nr(wide) * 4, K: 257, transposed: false, wide, pad: 12);
        }
    }

    /// <param name="pad">extra elements per row of A, B and C (leading dimensions wider than the matrices)</param>
    private static void Check<T>(int M, int N, int K, bool transposed, bool wide, int pad = 0) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var rng = new Random(M * N + K);
        T R() => T.CreateTruncating(rng.NextDouble() * 2 - 1);
        int lda = (transposed ? M : K) + pad, ldb = N + pad, ldc = N + pad;
        var a = Enumerable.Range(0, (transposed ? K : M) * lda).Select(_ => R()).ToArray();
        var b = Enumerable.Range(0, K * ldb).Select(_ => R()).ToArray();
        var c = Enumerable.Range(0, M * ldc).Select(_ => R()).ToArray();
        var expected = (T[])c.Clone();
        var cPacked = (T[])c.Clone();
        int ars = transposed ? 1 : lda, aks = transposed ? lda : 1;
        for (int m = 0; m < M; m++)
            for (int n = 0; n < N; n++)
            {
                T acc = expected[m * ldc + n];
                for (int kk = 0; kk < K; kk++) acc = T.FusedMultiplyAdd(a[m * ars + kk * aks], b[kk * ldb + n], acc);
                expected[m * ldc + n] = acc;
            }
        Gemm<T>.Run(a, ars, aks, b, ldb, c, ldc, M, N, K, wide);
        Assert.True(expected.AsSpan().SequenceEqual(c), $"{typeof(T).Name} {M}×{K}·{K}×{N} (transposed {transposed}, 512-bit {wide})");
        // B packed once (a recurrence's weights) and A in place: the same chains
        var packed = new T[Gemm<T>.PackedBLength(N, K)];
        Gemm<T>.PackAllB(b, ldb, N, K, wide, packed);
        Gemm<T>.RunPackedB(a, ars, aks, packed, cPacked, ldc, M, N, K, wide);
        Assert.True(expected.AsSpan().SequenceEqual(cPacked), $"packed B: {typeof(T).Name} {M}×{K}·{K}×{N} (transposed {transposed}, 512-bit {wide})");
    }

    [Fact]
    public void A_product_over_segments_is_one_chain_through_them_in_order()
    {
        // A weight gradient over a shard's sequences: the depth is cut into segments lying anywhere in A and B (here
        // in reverse order, one empty); each element's chain must run through them one after another, across depth
        // blocks (256) that span segments, on the in-place (< 64 rows) and the packed path, both layouts of A.
        foreach (bool wide in Vector512.IsHardwareAccelerated ? new[] { false, true } : new[] { false })
        {
            Segments<float>(M: 200, N: Gemm<float>.Nr(wide) * 3, depths: [63, 0, 250, 1, 130], transposed: true, wide);
            Segments<float>(M: 77, N: Gemm<float>.Nr(wide) * 2, depths: [13, 0, 300, 7, 16], transposed: false, wide);
            Segments<float>(M: 9, N: Gemm<float>.Nr(wide) * 2, depths: [40, 300], transposed: true, wide);
            Segments<double>(M: 131, N: Gemm<double>.Nr(wide) * 2, depths: [257, 5, 0, 64], transposed: false, wide);
            Segments<double>(M: 64, N: Gemm<double>.Nr(wide), depths: [3], transposed: true, wide);
            Segments<float>(M: 70, N: Gemm<float>.Nr(wide), depths: [0, 0], transposed: true, wide);
            // row-major float A whose 8 depth steps from kk = 0 run x, x+10 … x+15, x+7: the first and the last are 7
            // floats apart though the steps between are not side by side (the 8×8 transpose must not be taken there)
            Segments<float>(M: 72, N: Gemm<float>.Nr(wide), depths: [1, 6, 1, 8, 9], transposed: false, wide, starts: [0, 10, 7, 30, 17]);
        }
    }

    /// <param name="starts">where each segment's first depth step lies (in depth steps); by default the segments lie in
    /// reverse order, 3 steps apart</param>
    private static void Segments<T>(int M, int N, int[] depths, bool transposed, bool wide, int[]? starts = null) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var rng = new Random(M * 31 + N + depths.Sum());
        T R() => T.CreateTruncating(rng.NextDouble() * 2 - 1);
        int K = depths.Sum(), gap = 3;
        if (starts is null)
        {
            starts = new int[depths.Length];
            int at = K + gap * depths.Length;
            for (int s = 0; s < depths.Length; s++) starts[s] = at -= depths[s] + gap;
        }
        int extent = depths.Select((d, s) => starts[s] + d).Max() + gap;
        int lda = (transposed ? M : extent) + 5, ldb = N + 7, ldc = N + 2;
        int aRows = transposed ? extent : M;
        var a = Enumerable.Range(0, aRows * lda).Select(_ => R()).ToArray();
        var b = Enumerable.Range(0, extent * ldb).Select(_ => R()).ToArray();
        var c = Enumerable.Range(0, M * ldc).Select(_ => R()).ToArray();
        int ars = transposed ? 1 : lda, aks = transposed ? lda : 1;
        var segments = depths.Select((d, s) => new Gemm<T>.Segment((long)starts[s] * aks, (long)starts[s] * ldb, d)).ToArray();
        var expected = (T[])c.Clone();
        for (int m = 0; m < M; m++)
            for (int n = 0; n < N; n++)
            {
                T acc = expected[m * ldc + n];
                foreach (var g in segments)
                    for (int kk = 0; kk < g.Depth; kk++) acc = T.FusedMultiplyAdd(a[g.A + m * ars + kk * aks], b[g.B + kk * ldb + n], acc);
                expected[m * ldc + n] = acc;
            }
        Gemm<T>.RunSegments(a, ars, aks, b, ldb, c, ldc, M, N, segments, wide);
        Assert.True(expected.AsSpan().SequenceEqual(c), $"{typeof(T).Name} {M}×[{string.Join(",", depths)}]×{N} (transposed {transposed}, 512-bit {wide})");
    }

    [Fact]
    public void The_256_and_512_bit_kernels_give_the_same_bits()
    {
        if (!Vector512.IsHardwareAccelerated) return; // nothing to compare on this host: only the 256-bit path exists here
        Both<float>(Activation.Tanh);
        Both<double>(Activation.Sigmoid);

        static void Both<T>(Activation act) where T : unmanaged, IFloatingPointIeee754<T>
        {
            var shape = new ModelShape(65, 37);
            var p = RandomParams<T>(shape, 41, 0.4);
            var tokens = RandomTokens(3000, 65, 42);
            var seqs = RandomSeqs([30, 30, 11, 30, 29], tokens.Length, 43);
            var narrow = new Tensors<T>(shape); var wide = new Tensors<T>(shape);
            double l1 = new FastKernel<T>(wide: false).Accumulate(p, act, tokens, seqs, narrow);
            double l2 = new FastKernel<T>(wide: true).Accumulate(p, act, tokens, seqs, wide);
            Assert.True(SameBits(narrow, wide));
            Assert.Equal(l1, l2);
        }
    }
}
