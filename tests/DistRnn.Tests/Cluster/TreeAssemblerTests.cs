using DistRnn.Reduction;

namespace DistRnn.Tests.Cluster;

public sealed class TreeAssemblerTests
{
    private static string Plus(string l, string r) => $"({l}+{r})";
    private static Subtree Leaf(int i) => new(0, i);

    [Fact]
    public void Combines_in_tree_order_whatever_the_arrival_order()
    {
        var orders = new[] { new[] { 0, 1, 2, 3 }, new[] { 3, 2, 1, 0 }, new[] { 2, 0, 3, 1 }, new[] { 1, 3, 0, 2 } };
        foreach (var order in orders)
        {
            var t = new TreeAssembler<string>(new Subtree(2, 0), Plus);
            foreach (var i in order) Assert.Equal(AssemblyOffer.Accepted, t.Add(Leaf(i), $"s{i}"));
            Assert.True(t.IsComplete);
            Assert.Equal("((s0+s1)+(s2+s3))", t.Result);
        }
    }

    [Fact]
    public void Mixed_levels_merge_up_the_fixed_tree()
    {
        var t = new TreeAssembler<string>(new Subtree(3, 0), Plus);
        t.Add(new Subtree(1, 3), "c");       // shards 6,7
        t.Add(new Subtree(2, 0), "a");       // shards 0..3
        Assert.False(t.IsComplete);
        t.Add(Leaf(5), "l5");
        t.Add(Leaf(4), "l4");
        Assert.Equal("(a+((l4+l5)+c))", t.Result);
    }

    [Fact]
    public void Second_copy_of_a_node_or_of_a_part_of_a_present_node_is_a_duplicate()
    {
        var t = new TreeAssembler<string>(new Subtree(2, 0), Plus);
        Assert.Equal(AssemblyOffer.Accepted, t.Add(new Subtree(1, 0), "a"));
        Assert.Equal(AssemblyOffer.Duplicate, t.Add(new Subtree(1, 0), "again"));
        Assert.Equal(AssemblyOffer.Duplicate, t.Add(Leaf(1), "inside"));
        Assert.Equal(AssemblyOffer.Outside, t.Add(Leaf(4), "elsewhere"));
        Assert.Equal(AssemblyOffer.Outside, t.Add(new Subtree(3, 0), "above"));
        t.Add(new Subtree(1, 1), "b");
        Assert.Equal("(a+b)", t.Result);
        Assert.Equal(AssemblyOffer.Duplicate, t.Add(new Subtree(2, 0), "root again"));
    }

    [Fact]
    public void A_node_arriving_after_some_of_its_parts_replaces_them()
    {
        var t = new TreeAssembler<string>(new Subtree(2, 0), Plus);
        t.Add(Leaf(2), "l2");                      // half of L1#1 (say, from a backup)
        t.Add(new Subtree(1, 1), "b");              // the whole L1#1 from its first holder
        Assert.Equal(new[] { new Subtree(1, 1) }, t.Present);
        t.Add(new Subtree(1, 0), "a");
        Assert.Equal("(a+b)", t.Result);
    }

    [Fact]
    public void Missing_lists_the_largest_absent_pieces_left_to_right()
    {
        var t = new TreeAssembler<string>(new Subtree(3, 0), Plus);
        Assert.Equal(new[] { new Subtree(3, 0) }, t.Missing(new Subtree(3, 0)));
        t.Add(Leaf(1), "l1");
        t.Add(new Subtree(1, 2), "c");
        Assert.Equal(new[] { Leaf(0), new Subtree(1, 1), new Subtree(1, 3) }, t.Missing(new Subtree(3, 0)));
        Assert.Equal(new[] { new Subtree(1, 3) }, t.Missing(new Subtree(2, 1)));
        Assert.Empty(t.Missing(new Subtree(1, 2)));
    }
}
