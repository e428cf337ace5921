using Akka.Actor;
using Akka.Cluster;
using DistRnn.Protocol;
using DistRnn.Transport;

namespace DistRnn.Coordinator.Failover;

/// <summary>
/// The active coordinator's end of the replication stream (<c>/user/replication</c>), a thin shell over
/// <see cref="ReplicaSet{TReplica}"/>: standbys attach (only members with the coordinator role), get the snapshot the
/// loop hands over, then every step's decision; the loop's <see cref="Replicate"/> is answered once they all acked.
/// A standby whose node is unreachable or gone, or that has not acked within <see cref="AckTimeout"/>, is dropped
/// with a warning: the run goes on without it.
/// </summary>
public sealed class ReplicationActor : ReceiveActor, IWithTimers
{
    private sealed record AckTimedOut(long Step);

    /// <summary>How long a step waits for a standby's ack (a standby is a step behind at most, so this is generous).</summary>
    public static readonly TimeSpan AckTimeout = TimeSpan.FromSeconds(30);

    private readonly ReplicaSet<IActorRef> _set = new();
    /// <summary>Every standby that attached and was not lost since (to find them by node).</summary>
    private readonly HashSet<IActorRef> _known = new();
    private readonly ReplicationStatus _status;
    private readonly int _partBytes;
    private readonly Action<string> _info, _warn;
    private IActorRef? _replyTo;

    public ITimerScheduler Timers { get; set; } = null!;

    /// <param name="partBytes">the largest snapshot part (the model's size in float64 bytes: one frame)</param>
    public ReplicationActor(ReplicationStatus status, int partBytes, Action<string> info, Action<string> warn)
    {
        _status = status;
        _partBytes = partBytes;
        _info = info;
        _warn = warn;
        Receive<ReplicaAttach>(m =>
        {
            if (m.ProtocolVersion != ProtocolInfo.Version || !IsCoordinator(Sender.Path.Address)) return;
            if (_known.Add(Sender))
            {
                _info($"standby {Sender.Path.Address.HostPort()} attached; it gets the run's state before the next step");
                Context.Watch(Sender);
            }
            _set.Attach(Sender);
            Published();
        });
        Receive<SnapshotReady>(m =>
        {
            var to = _set.SnapshotTaken();
            Published();
            int count = Math.Max(1, (m.Checkpoint.Length + _partBytes - 1) / _partBytes);
            foreach (var r in to)
                for (int i = 0; i < count; i++)
                {
                    int at = i * _partBytes;
                    r.Tell(new ReplicaSnapshotPart(m.RunId, m.Step, i, count, m.Checkpoint.AsSpan(at, Math.Min(_partBytes, m.Checkpoint.Length - at)).ToArray()));
                }
        });
        Receive<Replicate>(m =>
        {
            var to = _set.Decided(m.Decision.Step);
            if (to.Count == 0) { Sender.Tell(new Replicated(m.Decision.Step, 0)); return; }
            _replyTo = Sender;
            foreach (var r in to) r.Tell(m.Decision);
            Timers.StartSingleTimer("ack", new AckTimedOut(m.Decision.Step), AckTimeout);
        });
        Receive<DecisionAck>(m => { if (_set.Acked(Sender, m.Step)) Done(m.Step); });
        Receive<AckTimedOut>(m =>
        {
            if (_set.InFlight != m.Step) return;
            foreach (var r in _set.TimedOut())
            {
                _known.Remove(r);
                Context.Unwatch(r);
                _warn($"standby {r.Path.Address.HostPort()} did not acknowledge step {m.Step} within {AckTimeout.TotalSeconds:F0} s; going on without it");
            }
            Done(m.Step);
        });
        Receive<Terminated>(t => LoseWhere(a => a == t.ActorRef.Path.Address, "stopped"));
        Receive<ClusterEvent.UnreachableMember>(m => LoseWhere(a => a == m.Member.Address, "is unreachable"));
        Receive<ClusterEvent.MemberRemoved>(m => LoseWhere(a => a == m.Member.Address, "left the cluster"));
        Receive<ClusterEvent.IClusterDomainEvent>(_ => { });
    }

    protected override void PreStart() =>
        Cluster.Get(Context.System).Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsEvents,
            typeof(ClusterEvent.MemberRemoved), typeof(ClusterEvent.UnreachableMember));

    protected override void PostStop() => Cluster.Get(Context.System).Unsubscribe(Self);

    private bool IsCoordinator(Address address) =>
        Cluster.Get(Context.System).State.Members.Any(m => m.Address == address && m.HasRole(AkkaConfig.CoordinatorRole) && m.Status == MemberStatus.Up);

    private void LoseWhere(Func<Address, bool> at, string why)
    {
        foreach (var r in _known.Where(r => at(r.Path.Address)).ToList())
        {
            _known.Remove(r);
            long? step = _set.InFlight;
            _warn($"standby {r.Path.Address.HostPort()} {why}; going on without it");
            if (_set.Lost(r) && step is long s) Done(s);
        }
        Published();
    }

    private void Published() => _status.Set(_set.WantsSnapshot);

    private void Done(long step)
    {
        Timers.Cancel("ack");
        _replyTo?.Tell(new Replicated(step, _set.Attached));
        _replyTo = null;
    }
}
