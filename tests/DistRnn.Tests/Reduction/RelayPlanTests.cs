using DistRnn.Coordinator.Scheduling;
using DistRnn.Reduction;

namespace DistRnn.Tests.Reduction;

/// <summary>The tree data plane's plan as pure logic: who sends which sum and the parameters to whom (workers are names).</summary>
public sealed class RelayPlanTests
{
    private static Subtree N(int level, int index) => new(level, index);

    private static RelayPlan<string> Plan(int shards, int workers, int epoch = 1)
    {
        var parts = SubtreeCutter.Split([Subtree.Root(shards)], workers);
        return RelayPlan<string>.For(parts.Select((p, i) => (((char)('A' + i)).ToString(), (IReadOnlyList<Subtree>)p)), Subtree.Root(shards), epoch);
    }

    [Fact]
    public void Three_workers_on_eight_shards_left_receives_right_and_parameters_follow_the_highest_tops()
    {
        // A: shards 0-1, B: 2-4, C: 5-7 (SubtreeCutter's split)
        var p = Plan(8, 3);
        Assert.Equal([N(1, 0)], p.PiecesOf("A"));
        Assert.Equal([N(1, 1), N(0, 4)], p.PiecesOf("B"));
        Assert.Equal([N(0, 5), N(1, 3)], p.PiecesOf("C"));
        Assert.Equal("A", p.RootOwner);
        Assert.Equal([(N(1, 1), "B"), (N(2, 1), "B")], p.ReceivesOf("A"));
        Assert.Equal([(N(0, 5), "C"), (N(1, 3), "C")], p.ReceivesOf("B"));
        Assert.Empty(p.ReceivesOf("C"));
        Assert.Equal([N(3, 0)], p.TopsOf("A"));
        Assert.Equal([N(1, 1), N(2, 1)], p.TopsOf("B"));
        Assert.Equal([N(0, 5), N(1, 3)], p.TopsOf("C"));
        Assert.Equal((null, true), p.SendTo(N(3, 0)));
        Assert.Equal(("A", false), p.SendTo(N(2, 1)));
        Assert.Equal(("B", false), p.SendTo(N(1, 3)));
        Assert.Equal((null, true), p.ParametersFrom("A"));
        Assert.Equal(("A", false), p.ParametersFrom("B"));
        Assert.Equal(("B", false), p.ParametersFrom("C"));
        Assert.Equal(["B"], p.ParametersTo("A"));
        Assert.Equal(["C"], p.ParametersTo("B"));
        Assert.Equal("B", p.Owner(N(0, 3)));
        Assert.Equal("B", p.Owner(N(2, 1)));
    }

    /// <summary>
    /// Eight workers with two shards each: a worker passes the parameters first to the one below it with the largest
    /// subtree (whose own chain is the longest), so the broadcast is not held up behind the leaves.
    /// </summary>
    [Fact]
    public void Parameters_go_first_to_the_receiver_with_the_largest_subtree()
    {
        var p = Plan(16, 8); // A: shards 0-1, B: 2-3, …, H: 14-15
        Assert.Equal(["E", "C", "B"], p.ParametersTo("A")); // E holds L3#1, C L2#1, B L1#1
        Assert.Equal(["G", "F"], p.ParametersTo("E"));
        Assert.Equal(["D"], p.ParametersTo("C"));
        Assert.Equal(["H"], p.ParametersTo("G"));
        Assert.Empty(p.ParametersTo("B"));
    }

    [Fact]
    public void One_worker_sends_only_the_root_to_the_coordinator()
    {
        var p = Plan(16, 1);
        Assert.Equal("A", p.RootOwner);
        Assert.Empty(p.ReceivesOf("A"));
        Assert.Equal([Subtree.Root(16)], p.TopsOf("A"));
        Assert.Empty(p.ParametersTo("A"));
    }

    public static TheoryData<int, int> Shapes()
    {
        var d = new TheoryData<int, int>();
        foreach (int shards in new[] { 1, 8, 16 })
            for (int n = 1; n <= 9; n++) d.Add(shards, n);
        d.Add(32, 7);
        return d;
    }

    /// <summary>
    /// Simulates the plan with sets of shards as sums: every worker starts with its pieces, sums move only along the
    /// plan's edges, and a node is sent once its owner holds all of it. The coordinator must get exactly the root, once,
    /// and send the parameters exactly once; every worker must get the parameters exactly once from a worker that has
    /// them; nobody sends or receives more than one tensor per level of the tree.
    /// </summary>
    [Theory]
    [MemberData(nameof(Shapes))]
    public void Every_plan_delivers_the_root_once_and_the_parameters_to_everyone_once_with_logarithmic_traffic(int shards, int workers)
    {
        var p = Plan(shards, workers);
        var root = Subtree.Root(shards);
        Check(p, root);
        int levels = root.Level;
        foreach (var w in p.Workers)
        {
            Assert.InRange(p.ReceivesOf(w).Count, 0, levels);
            Assert.InRange(p.TopsOf(w).Count, 1, levels + 1);
            Assert.InRange(p.ParametersTo(w).Count, 0, levels);
        }
    }

    [Fact]
    public void Uneven_scattered_pieces_plan_as_well()
    {
        var assignment = new (string, IReadOnlyList<Subtree>)[]
        {
            ("A", [N(0, 7), N(1, 0)]), ("B", [N(2, 2), N(0, 2)]), ("C", [N(0, 3), N(1, 2), N(2, 3), N(0, 6)]),
        };
        var root = Subtree.Root(16);
        var p = RelayPlan<string>.For(assignment, root, 3);
        Assert.Equal(3, p.Epoch);
        Assert.Equal("A", p.RootOwner);
        Check(p, root);
    }

    [Fact]
    public void Overlapping_pieces_or_a_gap_are_refused()
    {
        var root = Subtree.Root(4);
        Assert.Throws<ArgumentException>(() => RelayPlan<string>.For([("A", [N(1, 0)]), ("B", [N(0, 1), N(1, 1)])], root, 1));
        Assert.Throws<ArgumentException>(() => RelayPlan<string>.For([("A", [N(1, 0)]), ("B", [N(0, 3)])], root, 1));
        Assert.Throws<ArgumentException>(() => RelayPlan<string>.For([("A", [N(2, 1)])], root, 1));
    }

    /// <summary>
    /// After a loss (StepState's decision: survivors keep what they hold, the lost pieces go to the least loaded), the new
    /// plan covers the root among the survivors only, keeps each survivor's pieces, and is a new epoch.
    /// </summary>
    [Theory]
    [InlineData(3, 0)] [InlineData(4, 1)] [InlineData(5, 4)] [InlineData(8, 3)] [InlineData(2, 0)]
    public void Re_planning_after_a_loss_keeps_the_survivors_pieces_and_leaves_the_lost_worker_out(int workers, int lost)
    {
        var names = Enumerable.Range(0, workers).Select(i => ((char)('A' + i)).ToString()).ToList();
        var state = new StepState<string, int>(1, Subtree.Root(16), (a, b) => a + b);
        var gather = new RootGather<string, float>("run", 1, Subtree.Root(16), 100);
        state.Start(names);
        var first = gather.Replan(state.Holdings());
        state.WorkerLost(names[lost]);
        var second = gather.Replan(state.Holdings());
        Assert.Equal(first.Epoch + 1, second.Epoch);
        Assert.DoesNotContain(names[lost], second.Workers);
        foreach (var w in names.Where(n => n != names[lost]))
            Assert.All(first.PiecesOf(w), piece => Assert.Contains(piece, second.PiecesOf(w)));
        Check(second, Subtree.Root(16));
    }

    private static void Check(RelayPlan<string> p, Subtree root)
    {
        // every sum edge is consistent from both ends
        foreach (var w in p.Workers)
        {
            foreach (var (node, from) in p.ReceivesOf(w))
            {
                Assert.NotEqual(w, from);
                Assert.Contains(node, p.TopsOf(from));
                Assert.Equal((w, false), p.SendTo(node));
            }
            foreach (var top in p.TopsOf(w))
            {
                var (to, toCoordinator) = p.SendTo(top);
                Assert.Equal(top == root, toCoordinator);
                if (!toCoordinator) Assert.Contains((top, w), p.ReceivesOf(to!));
            }
        }

        // sums as sets of shards, moved along the plan until nothing moves
        var held = p.Workers.ToDictionary(w => w, w => new HashSet<int>(p.PiecesOf(w).SelectMany(n => Enumerable.Range(n.First, n.Count))));
        var sent = new HashSet<(string, Subtree)>();
        int rootsSent = 0;
        for (bool moved = true; moved;)
        {
            moved = false;
            foreach (var w in p.Workers)
                foreach (var top in p.TopsOf(w))
                {
                    if (sent.Contains((w, top)) || !Enumerable.Range(top.First, top.Count).All(held[w].Contains)) continue;
                    sent.Add((w, top));
                    moved = true;
                    var (to, coordinator) = p.SendTo(top);
                    if (coordinator) rootsSent++;
                    else held[to!].UnionWith(Enumerable.Range(top.First, top.Count));
                }
        }
        Assert.Equal(1, rootsSent);
        Assert.Equal(p.Workers.Sum(w => p.TopsOf(w).Count), sent.Count);

        // the parameters: from the coordinator to the root's owner only, then each worker once, from one that has them
        Assert.Single(p.Workers, w => p.ParametersFrom(w).FromCoordinator);
        Assert.True(p.ParametersFrom(p.RootOwner).FromCoordinator);
        var have = new List<string> { p.RootOwner };
        for (int i = 0; i < have.Count; i++)
            foreach (var next in p.ParametersTo(have[i]))
            {
                Assert.DoesNotContain(next, have);
                Assert.Equal((have[i], false), p.ParametersFrom(next));
                have.Add(next);
            }
        Assert.Equal(p.Workers.OrderBy(w => w), have.OrderBy(w => w));
    }
}
