using Akka.Actor;
using Akka.Cluster;

namespace DistRnn.Transport;

/// <summary>One member as a side of the cluster sees it, for <see cref="CoordinatorSideDowning"/>.</summary>
public readonly record struct SideMember<TAddress>(TAddress Address, bool Coordinator, bool Reachable);

/// <summary>
/// Who is downed when members are unreachable (after the view has been stable for a while), as a pure rule:
/// the side that still reaches at least one coordinator-role member keeps itself and downs the unreachable; a side
/// that reaches none downs itself (its workers start over with fresh actor systems and rejoin their seeds).
/// With one coordinator this is Akka's keep-oldest with role coordinator and down-if-alone off, as before: a
/// partitioned worker downs itself, the coordinator never does. With a standby it differs where it must:
/// keep-oldest would have the survivors of a killed active coordinator (the oldest) down themselves, and Akka's
/// static-quorum downs every node once more role members exist than 2·quorum−1. A partition with a coordinator on
/// each side keeps both sides (two coordinators, see docs/failover.md).
/// </summary>
public static class CoordinatorSideDowning
{
    /// <returns>the members to down now: the unreachable ones, this side's own, or none when all are reachable</returns>
    public static IReadOnlyList<TAddress> Decide<TAddress>(IReadOnlyCollection<SideMember<TAddress>> members)
    {
        if (members.All(m => m.Reachable)) return [];
        bool keepsItself = members.Any(m => m.Reachable && m.Coordinator);
        return members.Where(m => m.Reachable != keepsItself).Select(m => m.Address).ToList();
    }
}

/// <summary>
/// Akka's downing SPI for <see cref="CoordinatorSideDowning"/> (<c>akka.cluster.downing-provider-class</c>): the
/// cluster daemon starts <see cref="CoordinatorDowningActor"/> on every node.
/// </summary>
public sealed class CoordinatorDowningProvider : IDowningProvider
{
    private readonly Cluster? _cluster;

    public CoordinatorDowningProvider(ActorSystem system) { }
    public CoordinatorDowningProvider(ActorSystem system, Cluster cluster) => _cluster = cluster;

    /// <summary>
    /// No margin: a cluster singleton (the active coordinator, docs/failover.md) moves as soon as its node is removed.
    /// The margin exists so that a downed side can stop its singleton first; a killed node has nothing left to stop,
    /// and a partitioned coordinator keeps its side anyway (it never downs itself), so waiting would buy nothing.
    /// </summary>
    public TimeSpan DownRemovalMargin => TimeSpan.Zero;

    public Props DowningActorProps => Props.Create(() => new CoordinatorDowningActor(_cluster, AkkaConfig.DowningStableAfter));
}

/// <summary>
/// Follows membership and reachability; when some member is unreachable and nothing has changed for
/// <c>stableAfter</c>, this side's leader downs what <see cref="CoordinatorSideDowning"/> says (Down is idempotent,
/// so two leaders of one side during a change do no harm).
/// </summary>
public sealed class CoordinatorDowningActor : ReceiveActor, IWithTimers
{
    private sealed record Tick;

    private readonly TimeSpan _stableAfter;
    private Cluster _cluster = null!;
    private readonly Cluster? _given;
    private readonly Dictionary<UniqueAddress, Member> _members = new();
    private readonly HashSet<UniqueAddress> _unreachable = new();
    private Address? _leader;
    private DateTime _changed = DateTime.UtcNow;

    public ITimerScheduler Timers { get; set; } = null!;

    public CoordinatorDowningActor(Cluster? cluster, TimeSpan stableAfter)
    {
        _given = cluster;
        _stableAfter = stableAfter;
        Receive<ClusterEvent.CurrentClusterState>(s =>
        {
            foreach (var m in s.Members) Track(m);
            foreach (var m in s.Unreachable) _unreachable.Add(m.UniqueAddress);
            _leader = s.Leader;
            Changed();
        });
        Receive<ClusterEvent.MemberRemoved>(m => { _members.Remove(m.Member.UniqueAddress); _unreachable.Remove(m.Member.UniqueAddress); Changed(); });
        Receive<ClusterEvent.IMemberEvent>(m => { Track(m.Member); Changed(); });
        Receive<ClusterEvent.UnreachableMember>(m => { _unreachable.Add(m.Member.UniqueAddress); Changed(); });
        Receive<ClusterEvent.ReachableMember>(m => { _unreachable.Remove(m.Member.UniqueAddress); Changed(); });
        Receive<ClusterEvent.LeaderChanged>(m => _leader = m.Leader);
        Receive<ClusterEvent.IClusterDomainEvent>(_ => { });
        Receive<Tick>(_ => Act());
    }

    protected override void PreStart()
    {
        _cluster = _given ?? Cluster.Get(Context.System);
        _cluster.Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsSnapshot,
            typeof(ClusterEvent.IMemberEvent), typeof(ClusterEvent.IReachabilityEvent), typeof(ClusterEvent.LeaderChanged));
        var every = TimeSpan.FromTicks(Math.Max(TimeSpan.FromMilliseconds(100).Ticks, _stableAfter.Ticks / 4));
        Timers.StartPeriodicTimer("tick", new Tick(), every);
    }

    protected override void PostStop() => _cluster.Unsubscribe(Self);

    private void Track(Member m)
    {
        if (m.Status is MemberStatus.Down or MemberStatus.Removed or MemberStatus.Exiting) _members.Remove(m.UniqueAddress);
        else _members[m.UniqueAddress] = m;
    }

    private void Changed() => _changed = DateTime.UtcNow;

    private void Act()
    {
        if (_unreachable.Count == 0 || DateTime.UtcNow - _changed < _stableAfter || _leader != _cluster.SelfAddress) return;
        var side = _members.Values.Select(m => new SideMember<Member>(m, m.HasRole(AkkaConfig.CoordinatorRole), !_unreachable.Contains(m.UniqueAddress))).ToList();
        foreach (var m in CoordinatorSideDowning.Decide(side)) _cluster.Down(m.Address);
        Changed(); // the downs change the view; decide again only once it is stable anew
    }
}
