using DistRnn.Reduction;

namespace DistRnn.Tests.Reduction;

public sealed class ReductionTreeTests
{
    private static string Plus(string l, string r) => $"({l}+{r})";
    private static Subtree Leaf(int i) => new(0, i);

    [Fact]
    public void Combines_in_tree_order_whatever_the_arrival_order()
    {
        var orders = new[] { new[] { 0, 1, 2, 3 }, new[] { 3, 2, 1, 0 }, new[] { 2, 0, 3, 1 }, new[] { 1, 3, 0, 2 } };
        foreach (var order in orders)
        {
            var t = new ReductionTree<string>(new Subtree(2, 0), Plus);
            foreach (var i in order) Assert.Equal(ReductionOffer.Accepted, t.Offer(Leaf(i), $"s{i}"));
            Assert.True(t.IsComplete);
            Assert.Equal("((s0+s1)+(s2+s3))", t.Result);
        }
    }

    [Fact]
    public void Mixed_levels_merge_up_the_fixed_tree()
    {
        var t = new ReductionTree<string>(new Subtree(3, 0), Plus);
        t.Offer(new Subtree(1, 3), "c");       // shards 6,7
        t.Offer(new Subtree(2, 0), "a");       // shards 0..3
        Assert.False(t.IsComplete);
        t.Offer(Leaf(5), "l5");
        t.Offer(Leaf(4), "l4");
        Assert.Equal("(a+((l4+l5)+c))", t.Result);
    }

    [Fact]
    public void Second_copy_of_a_node_or_of_a_part_of_a_present_node_is_a_duplicate()
    {
        var t = new ReductionTree<string>(new Subtree(2, 0), Plus);
        Assert.Equal(ReductionOffer.Accepted, t.Offer(new Subtree(1, 0), "a"));
        Assert.Equal(ReductionOffer.Duplicate, t.Offer(new Subtree(1, 0), "again"));
        Assert.Equal(ReductionOffer.Duplicate, t.Offer(Leaf(1), "inside"));
        Assert.Equal(ReductionOffer.Outside, t.Offer(Leaf(4), "elsewhere"));
        Assert.Equal(ReductionOffer.Outside, t.Offer(new Subtree(3, 0), "above"));
        t.Offer(new Subtree(1, 1), "b");
        Assert.Equal("(a+b)", t.Result);
        Assert.Equal(ReductionOffer.Duplicate, t.Offer(new Subtree(2, 0), "root again"));
    }

    [Fact]
    public void A_node_arriving_after_some_of_its_parts_replaces_them()
    {
        var t = new ReductionTree<string>(new Subtree(2, 0), Plus);
        t.Offer(Leaf(2), "l2");                      // half of L1#1 (say, from a backup)
        t.Offer(new Subtree(1, 1), "b");              // the whole L1#1 from its first holder
        Assert.Equal(new[] { new Subtree(1, 1) }, t.Present);
        t.Offer(new Subtree(1, 0), "a");
        Assert.Equal("(a+b)", t.Result);
    }

    [Fact]
    public void Missing_lists_the_largest_absent_pieces_left_to_right()
    {
        var t = new ReductionTree<string>(new Subtree(3, 0), Plus);
        Assert.Equal(new[] { new Subtree(3, 0) }, t.Missing(new Subtree(3, 0)));
        t.Offer(Leaf(1), "l1");
        t.Offer(new Subtree(1, 2), "c");
        Assert.Equal(new[] { Leaf(0), new Subtree(1, 1), new Subtree(1, 3) }, t.Missing(new Subtree(3, 0)));
        Assert.Equal(new[] { new Subtree(1, 3) }, t.Missing(new Subtree(2, 1)));
        Assert.Empty(t.Missing(new Subtree(1, 2)));
    }

    [Fact]
    public void A_borrowed_right_child_is_combined_without_a_copy_and_a_left_one_is_kept()
    {
        var kept = new List<string>();
        string Keep(string v) { kept.Add(v); return $"copy of {v}"; }
        var t = new ReductionTree<string>(new Subtree(2, 0), Plus);
        foreach (var i in new[] { 0, 1, 3, 2 }) Assert.Equal(ReductionOffer.Accepted, t.Offer(Leaf(i), $"s{i}", Keep));
        // s1 found its left sibling waiting; s2 is a left child (the sum goes into its storage), so it is kept too
        Assert.Equal(new[] { "s0", "s3", "s2" }, kept);
        Assert.Equal("((copy of s0+s1)+(copy of s2+copy of s3))", t.Result);
        Assert.Equal(ReductionOffer.Duplicate, t.Offer(Leaf(1), "late", Keep));
        Assert.Equal(3, kept.Count);
    }

    [Fact]
    public void Every_value_the_tree_lets_go_of_is_released_once()
    {
        var released = new List<string>();
        var t = new ReductionTree<string>(new Subtree(2, 0), Plus, released.Add);
        t.Offer(Leaf(2), "l2");
        t.Offer(new Subtree(1, 1), "b");            // replaces l2
        t.Offer(Leaf(1), "l1");
        t.Offer(Leaf(0), "l0");                     // (l0+l1), then with b
        Assert.Equal("((l0+l1)+b)", t.Result);
        Assert.Equal(new[] { "l2", "l1", "b" }, released);
    }
}
