using DistRnn.Coordinator.Failover;
using DistRnn.Transport;
using DistRnn.Worker.Node;

namespace DistRnn.Tests.Failover;

/// <summary>The decisions of failover as pure logic: who is downed, who is followed, what is replicated and when a step counts as replicated.</summary>
public sealed class FailoverLogicTests
{
    private static SideMember<string> C(string a, bool reachable = true) => new(a, Coordinator: true, reachable);
    private static SideMember<string> W(string a, bool reachable = true) => new(a, Coordinator: false, reachable);

    [Fact]
    public void Nobody_is_downed_while_everyone_is_reachable()
    {
        Assert.Empty(CoordinatorSideDowning.Decide([C("a"), C("b"), W("w1"), W("w2")]));
    }

    [Fact]
    public void With_one_coordinator_an_unreachable_worker_is_downed_and_a_partitioned_worker_downs_itself()
    {
        // the coordinator's side (keep-oldest with role coordinator, as before)
        Assert.Equal(["w2"], CoordinatorSideDowning.Decide([C("a"), W("w1"), W("w2", reachable: false)]));
        // the worker's side sees the coordinator unreachable: it downs itself (its node starts over)
        Assert.Equal(["w2"], CoordinatorSideDowning.Decide([C("a", reachable: false), W("w1", reachable: false), W("w2")]));
        // the coordinator never downs itself, even alone (down-if-alone off)
        Assert.Equal(["w1", "w2"], CoordinatorSideDowning.Decide([C("a"), W("w1", reachable: false), W("w2", reachable: false)]));
    }

    [Fact]
    public void A_killed_active_coordinator_is_downed_by_the_side_of_its_standby()
    {
        // keep-oldest would have this side (without the oldest) down itself: here it downs the lost active instead
        Assert.Equal(["a"], CoordinatorSideDowning.Decide([C("a", reachable: false), C("b"), W("w1"), W("w2")]));
        // the active and a worker killed together: both go
        Assert.Equal(["a", "w1"], CoordinatorSideDowning.Decide([C("a", reachable: false), C("b"), W("w1", reachable: false), W("w2")]));
        // a killed standby: the active's side downs it and goes on
        Assert.Equal(["b"], CoordinatorSideDowning.Decide([C("a"), C("b", reachable: false), W("w1"), W("w2")]));
    }

    [Fact]
    public void A_partition_with_a_coordinator_on_each_side_keeps_both_sides()
    {
        // two coordinators (documented in docs/failover.md): each side downs the other, none downs itself
        Assert.Equal(["b", "w2"], CoordinatorSideDowning.Decide([C("a"), W("w1"), C("b", reachable: false), W("w2", reachable: false)]));
        Assert.Equal(["a", "w1"], CoordinatorSideDowning.Decide([C("a", reachable: false), W("w1", reachable: false), C("b"), W("w2")]));
    }

    private sealed record M(string Address, int Age);

    private static CoordinatorChoice<M, string> Choice() => new(m => m.Address, (x, y) => x.Age < y.Age);

    [Fact]
    public void A_worker_follows_the_oldest_pinned_coordinator_and_the_next_oldest_when_it_is_gone()
    {
        var choice = Choice();
        Assert.Null(choice.Current);
        // the standby's MemberUp may come first (events of the initial state come in address order)
        Assert.True(choice.Up(new M("b", 2)));
        Assert.Equal("b", choice.Current);
        Assert.True(choice.Up(new M("a", 1)));
        Assert.Equal("a", choice.Current);
        Assert.False(choice.Up(new M("c", 3))); // a younger one changes nothing
        Assert.False(choice.Gone("c"));
        Assert.False(choice.Gone("x"));         // never up
        Assert.True(choice.Gone("a"));          // the active is gone: the standby takes the run over
        Assert.Equal("b", choice.Current);
        Assert.True(choice.Gone("b"));
        Assert.Null(choice.Current);            // none left: the worker starts over
    }

    [Fact]
    public void Without_a_standby_a_step_is_replicated_at_once()
    {
        var set = new ReplicaSet<string>();
        Assert.False(set.WantsSnapshot);
        Assert.Empty(set.Decided(1));
        Assert.Null(set.InFlight);
    }

    [Fact]
    public void A_standby_gets_the_snapshot_then_every_decision_and_each_step_waits_for_its_ack()
    {
        var set = new ReplicaSet<string>();
        set.Attach("b");
        Assert.True(set.WantsSnapshot);
        Assert.Empty(set.Decided(1));           // not attached before its snapshot: step 1 does not wait for it
        Assert.Equal(["b"], set.SnapshotTaken());
        Assert.False(set.WantsSnapshot);
        Assert.Equal(["b"], set.Decided(2));
        Assert.Equal(2, set.InFlight);
        Assert.False(set.Acked("b", 1));        // an old step's ack
        Assert.False(set.Acked("x", 2));        // not a standby
        Assert.Throws<InvalidOperationException>(() => set.Decided(3));
        Assert.True(set.Acked("b", 2));
        Assert.Null(set.InFlight);
        Assert.False(set.Acked("b", 2));        // twice
    }

    [Fact]
    public void A_repeated_attach_that_crossed_the_snapshot_changes_nothing()
    {
        var set = new ReplicaSet<string>();
        set.Attach("b");
        set.SnapshotTaken();
        set.Attach("b");                        // it asked again before the snapshot reached it
        Assert.False(set.WantsSnapshot);
        Assert.Equal(["b"], set.Decided(5));    // it still gets every decision: no gap in its stream
    }

    [Fact]
    public void A_lost_or_silent_standby_is_dropped_and_never_waited_for_again()
    {
        var set = new ReplicaSet<string>();
        set.Attach("b"); set.Attach("c");
        set.SnapshotTaken();
        Assert.Equal(2, set.Decided(7).Count);
        Assert.False(set.Lost("b"));            // c still owes its ack
        Assert.True(set.Acked("c", 7));
        Assert.Equal(["c"], set.Decided(8));
        Assert.Equal(["c"], set.TimedOut());
        Assert.Null(set.InFlight);
        Assert.Empty(set.Decided(9));
        Assert.Equal(0, set.Attached);
        set.Attach("c");                        // back, it starts over with a snapshot
        Assert.True(set.WantsSnapshot);
    }

    [Fact]
    public void A_standby_takes_decisions_in_order_and_knows_when_its_stream_broke()
    {
        var log = new ReplicaLog<string>(snapshotStep: 10);
        Assert.Null(log.Take(11));
        Assert.Equal(StreamVerdict.Stale, log.Offer(10, "old"));
        Assert.Equal(StreamVerdict.Take, log.Offer(11, "d11"));
        Assert.Equal(StreamVerdict.Stale, log.Offer(11, "again"));
        Assert.Null(log.Take(12));
        Assert.Equal("d11", log.Take(11));
        Assert.Null(log.Take(11));              // taken once
        Assert.Equal(StreamVerdict.Gap, log.Offer(13, "d13"));
        Assert.Equal(11, log.Received);
    }

    [Fact]
    public void A_resumed_stream_may_bring_several_decisions_at_once_and_the_loop_takes_them_in_order()
    {
        var log = new ReplicaLog<string>(snapshotStep: 10);
        Assert.Equal(StreamVerdict.Take, log.Offer(11, "d11"));
        // the coordinator that took the run over sends what this standby missed, then its own steps, before the loop asks
        Assert.Equal(StreamVerdict.Take, log.Offer(12, "d12"));
        Assert.Equal(StreamVerdict.Take, log.Offer(13, "d13"));
        Assert.Equal(StreamVerdict.Stale, log.Offer(12, "again"));
        Assert.Null(log.Take(12));              // in order only
        Assert.Equal("d11", log.Take(11));
        Assert.Equal("d12", log.Take(12));
        Assert.Equal(StreamVerdict.Gap, log.Offer(15, "d15"));
        Assert.Equal("d13", log.Take(13));
        Assert.Null(log.Take(14));
        Assert.Equal(13, log.Received);
    }

    [Fact]
    public void A_resuming_standby_is_attached_without_a_snapshot_and_owes_acks_from_the_next_step()
    {
        var set = new ReplicaSet<string>();
        Assert.Empty(set.Decided(20));          // this node's first step after the takeover, nobody attached yet
        set.Resumed("c");                       // c resumes while step 20 is in flight (it is sent 20 with what it missed)
        Assert.True(set.IsAttached("c"));
        Assert.False(set.WantsSnapshot);
        Assert.Equal(["c"], set.Decided(21));
        Assert.False(set.Acked("c", 20));       // step 20 did not wait for it
        Assert.True(set.Acked("c", 21));
    }

    private static DecisionHistory<string> History(long maxBytes = 1000) => new(maxBytes);

    [Fact]
    public void After_a_takeover_a_standby_one_step_behind_gets_the_step_it_missed_and_one_level_or_ahead_gets_none()
    {
        // the lost active sent step 40 to b (now holding the run) and died before c got it
        var h = History();
        h.Start(completed: 40, last: "d40", lastBytes: 8);
        Assert.Equal("d40", Sent(h.After(39)));
        Assert.Equal("", Sent(h.After(40)));
        Assert.Equal("", Sent(h.After(41))); // c got 41 and b did not: b computes it again, c acks it as stale
        Assert.NotNull(h.After(42).Refusal);
        Assert.NotNull(h.After(38).Refusal);          // older than anything this node took
    }

    [Fact]
    public void The_steps_this_node_computes_after_the_takeover_are_kept_for_a_resume_that_comes_late()
    {
        var h = History();
        h.Start(completed: 40, last: "d40", lastBytes: 8);
        for (long s = 41; s <= 44; s++) h.Add(s, $"d{s}", 8);
        Assert.Equal(44, h.Latest);
        Assert.Equal("d40 d41 d42 d43 d44", Sent(h.After(39)));
        Assert.Equal("d43 d44", Sent(h.After(42)));
        // without the decision of step 40 (this node had none since its snapshot), a standby at 39 cannot resume
        var bare = History();
        bare.Start(completed: 40, last: null, lastBytes: 0);
        bare.Add(41, "d41", 8);
        Assert.Equal("d41", Sent(bare.After(40)));
        Assert.Contains("from step 41 on only", bare.After(39).Refusal);
    }

    [Fact]
    public void The_history_keeps_at_most_its_budget_and_nothing_once_stopped_or_before_any_takeover()
    {
        var h = History(maxBytes: 30);
        h.Start(completed: 10, last: "d10", lastBytes: 10);
        for (long s = 11; s <= 14; s++) h.Add(s, $"d{s}", 10);
        Assert.Equal("d12 d13 d14", Sent(h.After(11))); // the oldest went first
        Assert.Contains("from step 12 on only", h.After(10).Refusal);
        h.Stop();
        Assert.False(h.Keeping);
        h.Add(15, "d15", 10);
        Assert.Equal("", Sent(h.After(15)));
        Assert.NotNull(h.After(14).Refusal);
        // an active that never took over keeps nothing, but a level standby can follow it
        var active = History();
        active.Add(7, "d7", 8);
        Assert.Equal("", Sent(active.After(7)));
        Assert.NotNull(active.After(6).Refusal);
        // a step out of order starts the history over at it
        var odd = History();
        odd.Start(completed: 1, last: "d1", lastBytes: 8);
        odd.Add(5, "d5", 8);
        Assert.Equal("d5", Sent(odd.After(4)));
        Assert.NotNull(odd.After(1).Refusal);
    }

    /// <summary>The decisions sent, in order (and that none was refused).</summary>
    private static string Sent((IReadOnlyList<string> Send, string? Refusal) r)
    {
        Assert.Null(r.Refusal);
        return string.Join(" ", r.Send);
    }

    [Fact]
    public void A_snapshot_is_put_together_from_its_parts_in_order()
    {
        var a = new SnapshotAssembly();
        Assert.Null(a.Add("r", 5, 0, 3, [1, 2]));
        Assert.Null(a.Add("r", 5, 1, 3, [3]));
        Assert.Equal(new byte[] { 1, 2, 3, 4 }, a.Add("r", 5, 2, 3, [4]));
        // a part out of order or of another snapshot starts over; a part 0 starts a new one
        Assert.Null(a.Add("r", 6, 0, 2, [9]));
        Assert.Null(a.Add("r", 7, 1, 2, [9]));
        Assert.Null(a.Add("r", 6, 1, 2, [8]));
        Assert.Null(a.Add("r", 6, 0, 2, [7]));
        Assert.Equal(new byte[] { 7, 8 }, a.Add("r", 6, 1, 2, [8]));
        Assert.Equal(new byte[] { 5 }, a.Add("r", 8, 0, 1, [5]));
    }
}
