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
