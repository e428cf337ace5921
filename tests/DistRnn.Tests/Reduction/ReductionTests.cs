using DistRnn.Compute;
using DistRnn.Data;
using DistRnn.Model;
using DistRnn.Reduction;

namespace DistRnn.Tests.Reduction;

public class ReductionTests
{
    [Fact]
    public void Subtree_geometry()
    {
        var root = Subtree.Root(8);
        Assert.Equal(new Subtree(3, 0), root);
        Assert.Equal(0, root.First); Assert.Equal(8, root.Count);
        Assert.Equal(new Subtree(2, 1), root.Right);
        Assert.Equal(4, root.Right.First);
        Assert.True(root.Contains(new Subtree(0, 7)));
        Assert.False(new Subtree(1, 0).Contains(new Subtree(0, 2)));
        Assert.Equal(new Subtree(1, 1), new Subtree(0, 3).Parent);
        Assert.Equal(new Subtree(0, 2), new Subtree(0, 3).Sibling);
        Assert.Throws<ArgumentException>(() => Subtree.Root(6));
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(7, 4)]
    [InlineData(32, 16)]
    [InlineData(100, 16)]
    public void Default_shard_count_is_a_power_of_two_no_larger_than_the_batch(int batch, int expected)
        => Assert.Equal(expected, ShardPlan.DefaultShardCount(batch));

    [Fact]
    public void Shards_partition_the_batch_in_order()
    {
        var batch = Enumerable.Range(0, 10).Select(i => new SequenceRef(i, 5)).ToArray();
        var all = Enumerable.Range(0, 4).SelectMany(j => ShardPlan.Shard(batch, j, 4).ToArray()).ToArray();
        Assert.Equal(batch, all);
    }

    [Fact]
    public void Subtrees_computed_apart_combine_to_the_same_bits_as_the_root()
    {
        var shape = new ModelShape(9, 7);
        var p = TestUtil.RandomParams<float>(shape, 1);
        var tokens = TestUtil.RandomTokens(500, 9, 2);
        var batch = new BatchPlan(4, 500, 10, 16).ForStep(1);
        using var computer = new SubtreeComputer<float>(Kernels.Default<float>(), 2);
        ShardSum<float> Sum(Subtree node) => computer.ComputeAsync(1, p, Activation.Tanh, tokens, batch, 8, node).GetAwaiter().GetResult();
        var root = Sum(Subtree.Root(8));
        // As two workers would: one computes L2#0, the other L1#2 and L1#3 apart.
        var left = Sum(new Subtree(2, 0));
        var r1 = Sum(new Subtree(1, 2));
        var r2 = Sum(new Subtree(1, 3));
        var combined = ShardSum<float>.Combine(left, ShardSum<float>.Combine(r1, r2));
        Assert.Equal(root.Grad.Data, combined.Grad.Data);
        Assert.Equal(root.Loss, combined.Loss);
        Assert.Equal(160, combined.Chars);
    }

    [Fact]
    public void Batch_plan_depends_on_seed_and_step_alone()
    {
        var a = new BatchPlan(7, 1000, 20, 8);
        var b = new BatchPlan(7, 1000, 20, 8);
        Assert.Equal(a.ForStep(5), b.ForStep(5));
        Assert.NotEqual(a.ForStep(5), a.ForStep(6));
        Assert.NotEqual(a.ForStep(5), new BatchPlan(8, 1000, 20, 8).ForStep(5));
        for (int s = 1; s < 200; s++)
            foreach (var q in a.ForStep(s)) Assert.InRange(q.Start, 0, 1000 - 21);
    }

    [Fact]
    public void Evaluation_windows_cover_the_text_from_s0()
    {
        var w = BatchPlan.Windows(10, 31, 8);
        Assert.Equal([new SequenceRef(10, 8), new SequenceRef(18, 8), new SequenceRef(26, 4)], w);
    }
}
