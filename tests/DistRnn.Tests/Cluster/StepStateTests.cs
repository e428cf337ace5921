using DistRnn.Coordinator.Scheduling;
using DistRnn.Reduction;

namespace DistRnn.Tests.Cluster;

/// <summary>The coordinator's step state machine without actors: workers are names, sums are strings that show the order of additions.</summary>
public sealed class StepStateTests
{
    private static string Plus(string l, string r) => $"({l}+{r})";
    private static StepState<string, string> New(long step = 7, int shards = 8) => new(step, Subtree.Root(shards), Plus);
    private static Subtree N(int level, int index) => new(level, index);

    private static void Is(Assignment<string> a, string worker, params Subtree[] nodes)
    {
        Assert.Equal(worker, a.Worker);
        Assert.Equal(nodes, a.Nodes);
    }

    /// <summary>Answers every outstanding piece of every worker with a string naming it, as a worker would.</summary>
    private static void AnswerAll(StepState<string, string> s, string worker)
    {
        foreach (var n in s.Outstanding(worker)) Assert.Equal(ResultVerdict.Accepted, s.Offer(s.Step, n, n.ToString()));
    }

    [Fact]
    public void Start_splits_the_tree_evenly_in_worker_order()
    {
        var s = New();
        var a = s.Start(["A", "B"]);
        Assert.Equal(2, a.Count);
        Is(a[0], "A", N(2, 0));
        Is(a[1], "B", N(2, 1));
        Assert.Equal(new[] { N(2, 0) }, s.Outstanding("A"));
    }

    [Fact]
    public void Three_workers_on_eight_shards_do_three_three_two()
    {
        var a = New().Start(["A", "B", "C"]);
        Assert.Equal(new[] { 2, 3, 3 }.Sum(), a.Sum(x => SubtreeCutter.LeafCount(x.Nodes)));
        Assert.All(a, x => Assert.InRange(SubtreeCutter.LeafCount(x.Nodes), 2, 3));
    }

    [Fact]
    public void Results_combine_in_tree_order_and_complete_the_step()
    {
        var s = New();
        s.Start(["A", "B"]);
        Assert.Equal(ResultVerdict.Accepted, s.Offer(7, N(2, 1), "B"));
        Assert.False(s.IsComplete);
        Assert.Equal(ResultVerdict.Accepted, s.Offer(7, N(2, 0), "A"));
        Assert.True(s.IsComplete);
        Assert.Equal("(A+B)", s.Result);
    }

    [Fact]
    public void Duplicate_stale_and_invalid_results_are_dropped()
    {
        var s = New();
        s.Start(["A", "B"]);
        Assert.Equal(ResultVerdict.Accepted, s.Offer(7, N(2, 0), "A"));
        Assert.Equal(ResultVerdict.Duplicate, s.Offer(7, N(2, 0), "A again"));
        Assert.Equal(ResultVerdict.Duplicate, s.Offer(7, N(0, 1), "part of A"));
        Assert.Equal(ResultVerdict.Stale, s.Offer(6, N(2, 1), "old step"));
        Assert.Equal(ResultVerdict.Stale, s.Offer(8, N(2, 1), "future step"));
        Assert.Equal(ResultVerdict.Invalid, s.Offer(7, N(0, 8), "not in the tree"));
        Assert.Equal(ResultVerdict.Invalid, s.Offer(7, N(4, 0), "above the root"));
        Assert.False(s.IsComplete);
        Assert.Equal(ResultVerdict.Accepted, s.Offer(7, N(2, 1), "B"));
        Assert.Equal("(A+B)", s.Result);
        Assert.Equal(ResultVerdict.Duplicate, s.Offer(7, N(2, 1), "late B"));
    }

    [Fact]
    public void A_lost_worker_s_missing_pieces_go_to_the_others()
    {
        var s = New(shards: 16);
        s.Start(["A", "B", "C", "D"]);           // 4 shards each: L2#0..L2#3
        s.Offer(7, N(2, 0), "A");
        var moved = s.WorkerLost("B");           // B held L2#1
        Assert.Equal(new[] { "A", "C", "D" }, s.Live);
        // A has nothing outstanding, so it is first; the 4 shards are split 2+1+1
        Assert.Equal(SubtreeCutter.LeafCount([N(2, 1)]), moved.Sum(m => SubtreeCutter.LeafCount(m.Nodes)));
        Assert.Equal("A", moved[0].Worker);
        var covered = moved.SelectMany(m => m.Nodes).SelectMany(n => Enumerable.Range(n.First, n.Count)).OrderBy(i => i);
        Assert.Equal(Enumerable.Range(4, 4), covered);
        foreach (var w in new[] { "A", "C", "D" }) AnswerAll(s, w);
        Assert.True(s.IsComplete);
    }

    [Fact]
    public void Only_what_is_still_missing_is_reassigned()
    {
        var s = New();
        s.Start(["A", "B"]);                     // B: L2#1 = shards 4..7
        // B's own result for half of its work arrived (e.g. a finer split from an earlier reassignment)
        s.Offer(7, N(1, 2), "B-left");
        var moved = s.WorkerLost("B");
        Assert.Single(moved);
        Is(moved[0], "A", N(1, 3));
    }

    [Fact]
    public void A_late_result_from_a_lost_worker_still_counts_and_the_reassigned_copy_is_then_a_duplicate()
    {
        var s = New();
        s.Start(["A", "B"]);
        s.WorkerLost("B");                          // L2#1 now with A
        Assert.Equal(ResultVerdict.Accepted, s.Offer(7, N(2, 1), "B-late"));
        Assert.Equal(ResultVerdict.Accepted, s.Offer(7, N(2, 0), "A"));
        Assert.Equal(ResultVerdict.Duplicate, s.Offer(7, N(2, 1), "A's copy"));
        Assert.Equal("(A+B-late)", s.Result);
    }

    [Fact]
    public void With_no_worker_left_work_waits_and_goes_to_the_next_one_that_joins()
    {
        var s = New();
        s.Start(["A"]);
        Assert.Empty(s.WorkerLost("A"));
        Assert.Equal(new[] { Subtree.Root(8) }, s.Unassigned);
        Assert.Empty(s.DeadlinePassed());
        var given = s.WorkerJoined("B");
        Is(given.Single(), "B", Subtree.Root(8));
        Assert.Empty(s.Unassigned);
        Assert.Empty(s.WorkerJoined("B"));       // already in
        AnswerAll(s, "B");
        Assert.True(s.IsComplete);
    }

    [Fact]
    public void A_step_started_without_workers_waits_for_one()
    {
        var s = New();
        Assert.Empty(s.Start([]));
        Assert.Equal(new[] { Subtree.Root(8) }, s.Unassigned);
        Assert.Single(s.WorkerJoined("A"));
    }

    [Fact]
    public void A_worker_joining_mid_step_gets_nothing_when_all_is_assigned()
    {
        var s = New();
        s.Start(["A"]);
        Assert.Empty(s.WorkerJoined("B"));
        Assert.Equal(new[] { "A", "B" }, s.Live);
    }

    [Fact]
    public void Deadline_hands_a_silent_worker_s_pieces_to_the_others_and_first_result_wins()
    {
        var s = New();
        s.Start(["A", "B"]);
        s.Offer(7, N(2, 0), "A");
        var backups = s.DeadlinePassed();
        Assert.Single(backups);
        Is(backups[0], "A", N(2, 1));
        Assert.Equal(new[] { "A", "B" }, s.Live);           // B is slow, not lost
        Assert.Equal(ResultVerdict.Accepted, s.Offer(7, N(2, 1), "from A"));
        Assert.Equal(ResultVerdict.Duplicate, s.Offer(7, N(2, 1), "from B at last"));
        Assert.Equal("(A+from A)", s.Result);
    }

    [Fact]
    public void Deadline_with_a_single_worker_sends_its_pieces_again_to_it()
    {
        var s = New();
        s.Start(["A"]);
        var again = s.DeadlinePassed();
        Is(again.Single(), "A", Subtree.Root(8));
    }

    [Fact]
    public void Losing_a_worker_whose_pieces_have_a_backup_elsewhere_moves_nothing()
    {
        var s = New();
        s.Start(["A", "B"]);
        s.Offer(7, N(2, 0), "A");
        s.DeadlinePassed();                                  // A now also holds L2#1
        Assert.Empty(s.WorkerLost("B"));
        AnswerAll(s, "A");
        Assert.True(s.IsComplete);
    }

    [Fact]
    public void Nothing_is_handed_out_once_the_step_is_complete()
    {
        var s = New();
        s.Start(["A", "B"]);
        AnswerAll(s, "A");
        AnswerAll(s, "B");
        Assert.True(s.IsComplete);
        Assert.Empty(s.WorkerLost("A"));
        Assert.Empty(s.DeadlinePassed());
        Assert.Empty(s.WorkerJoined("C"));
    }

    [Fact]
    public void Deadline_policy_adapts_to_the_step_time()
    {
        var p = new DeadlinePolicy(TimeSpan.FromSeconds(60), TimeSpan.FromSeconds(5), 4);
        Assert.Equal(TimeSpan.FromSeconds(60), p.Next());
        p.Observe(TimeSpan.FromMilliseconds(100));
        Assert.Equal(TimeSpan.FromSeconds(5), p.Next());
        for (int i = 0; i < 40; i++) p.Observe(TimeSpan.FromSeconds(10));
        Assert.InRange(p.Next().TotalSeconds, 39, 40.01);
        Assert.Equal(TimeSpan.FromSeconds(10), DeadlinePolicy.Extend(TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public void A_suspected_worker_s_missing_pieces_go_to_the_others_at_once_and_the_first_copy_wins()
    {
        var s = New();
        s.Start(["A", "B"]);                     // B: L2#1
        var again = s.Suspected("B");
        Is(Assert.Single(again), "A", N(2, 1));
        Assert.Equal(new[] { "A", "B" }, s.Live); // B stays: it may still deliver
        Assert.Equal(ResultVerdict.Accepted, s.Offer(7, N(2, 1), "B"));
        Assert.Equal(ResultVerdict.Duplicate, s.Offer(7, N(2, 1), "A's copy"));
        Assert.Empty(s.Suspected("B"));          // nothing owed any more
    }

    [Fact]
    public void A_suspected_worker_alone_gets_its_own_pieces_again()
    {
        var s = New();
        s.Start(["A"]);
        Is(Assert.Single(s.Suspected("A")), "A", N(3, 0));
        Assert.Empty(s.Suspected("nobody"));
    }
}
