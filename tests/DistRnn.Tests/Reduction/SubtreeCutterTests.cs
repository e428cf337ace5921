using DistRnn.Reduction;

namespace DistRnn.Tests.Reduction;

public sealed class SubtreeCutterTests
{
    [Theory]
    [InlineData(16, 1)] [InlineData(16, 2)] [InlineData(16, 3)] [InlineData(16, 5)] [InlineData(16, 16)]
    [InlineData(16, 20)] [InlineData(8, 3)] [InlineData(1, 4)] [InlineData(32, 7)]
    public void Parts_cover_every_shard_once_with_balanced_aligned_subtrees(int shards, int workers)
    {
        var root = Subtree.Root(shards);
        var parts = SubtreeCutter.Split([root], workers);
        Assert.Equal(Math.Min(shards, workers), parts.Count);
        var leaves = parts.SelectMany(p => p).SelectMany(n => Enumerable.Range(n.First, n.Count)).ToList();
        Assert.Equal(Enumerable.Range(0, shards), leaves);
        var sizes = parts.Select(SubtreeCutter.LeafCount).ToList();
        Assert.True(sizes.Max() - sizes.Min() <= 1, $"unbalanced: {string.Join(",", sizes)}");
        Assert.All(parts.SelectMany(p => p), n => Assert.True(root.Contains(n)));
    }

    [Fact]
    public void Two_workers_get_the_two_halves()
    {
        var parts = SubtreeCutter.Split([new Subtree(4, 0)], 2);
        Assert.Equal(new[] { new Subtree(3, 0) }, parts[0]);
        Assert.Equal(new[] { new Subtree(3, 1) }, parts[1]);
    }

    [Fact]
    public void A_run_is_expressed_by_the_fewest_aligned_subtrees()
    {
        // shards 3..12 of 16: 3, 4-7, 8-11, 12
        var nodes = SubtreeCutter.Aligned(Enumerable.Range(3, 10).ToList(), 0, 10);
        Assert.Equal(new[] { new Subtree(0, 3), new Subtree(2, 1), new Subtree(2, 2), new Subtree(0, 12) }, nodes);
    }

    [Fact]
    public void Scattered_pieces_are_split_in_the_given_order()
    {
        var parts = SubtreeCutter.Split([new Subtree(1, 0), new Subtree(1, 3)], 2);
        Assert.Equal(new[] { new Subtree(1, 0) }, parts[0]);
        Assert.Equal(new[] { new Subtree(1, 3) }, parts[1]);
    }

    [Fact]
    public void Pieces_halve_the_largest_leftmost_first_until_there_are_enough()
    {
        var root = new Subtree(4, 0);
        Assert.Equal(new[] { (root, 0) }, SubtreeCutter.Pieces([root], 1));
        Assert.Equal(new[] { (new Subtree(2, 0), 0), (new Subtree(2, 1), 0), (new Subtree(2, 2), 0), (new Subtree(2, 3), 0) },
            SubtreeCutter.Pieces([root], 4));
        // not a power of two: the leftmost of the largest first
        Assert.Equal(new[] { new Subtree(2, 0), new Subtree(2, 1), new Subtree(3, 1) }, SubtreeCutter.Pieces([root], 3).Select(x => x.Piece));
    }

    [Fact]
    public void Pieces_keep_their_owner_cover_every_leaf_once_and_stop_at_leaves()
    {
        Subtree[] nodes = [new Subtree(2, 0), new Subtree(0, 5), new Subtree(1, 3)];
        foreach (int minimum in new[] { 1, 2, 3, 5, 8, 100 })
        {
            var pieces = SubtreeCutter.Pieces(nodes, minimum);
            Assert.Equal(Math.Min(Math.Max(minimum, nodes.Length), 7), pieces.Count);
            Assert.All(pieces, x => Assert.True(nodes[x.Owner].Contains(x.Piece)));
            var leaves = pieces.SelectMany(x => Enumerable.Range(x.Piece.First, x.Piece.Count)).ToList();
            Assert.Equal(new[] { 0, 1, 2, 3, 5, 6, 7 }, leaves);
        }
    }
}
