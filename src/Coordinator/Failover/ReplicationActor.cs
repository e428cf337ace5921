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
/// with a warning: the run goes on without it. After this node took the run over, a standby that followed the lost
/// coordinator too resumes here from where it stopped (<see cref="DecisionHistory{TDecision}"/> holds what it missed).
/// </summary>
public sealed class ReplicationActor : ReceiveActor, IWithTimers
{
    private sealed record AckTimedOut(long Step);

    /// <summary>How long a step waits for a standby's ack (a standby is a step behind at most, so this is generous).</summary>
    public static readonly TimeSpan AckTimeout = TimeSpan.FromSeconds(30);

    /// <summary>The most a coordinator that took the run over keeps of its recent decisions for standbys still to resume.</summary>
    public const long HistoryBytes = 256L << 20;

    private readonly ReplicaSet<IActorRef> _set = new();
    private readonly DecisionHistory<StepDecision> _history = new(HistoryBytes);
    /// <summary>Resuming standbys that asked before this node held the run (answered once it does).</summary>
    private readonly Dictionary<IActorRef, ReplicaAttach> _pendingResumes = new();
    /// <summary>The run this node holds (null: none yet — a standby, or an active before its first step).</summary>
    private string? _runId;
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
            if (m.HeldThrough >= 0)
            {
                if (_runId is null) _pendingResumes[Sender] = m;
                else Resume(Sender, m);
                return;
            }
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
            CheckHistory();
            int count = Math.Max(1, (m.Checkpoint.Length + _partBytes - 1) / _partBytes);
            foreach (var r in to)
                for (int i = 0; i < count; i++)
                {
                    int at = i * _partBytes;
                    r.Tell(new ReplicaSnapshotPart(m.RunId, m.Step, i, count, m.Checkpoint.AsSpan(at, Math.Min(_partBytes, m.Checkpoint.Length - at)).ToArray()));
                }
        });
        Receive<HoldsRun>(m =>
        {
            _runId = m.RunId;
            _history.Start(m.Completed, m.Last, m.Last is null ? 0 : Bytes(m.Last));
            AnswerPending();
            CheckHistory();
        });
        Receive<Replicate>(m =>
        {
            _history.Add(m.Decision.Step, m.Decision, Bytes(m.Decision));
            if (_runId is null)
            {
                _runId = m.Decision.RunId;
                AnswerPending();
            }
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
        foreach (var r in _pendingResumes.Keys.Where(r => at(r.Path.Address)).ToList()) _pendingResumes.Remove(r);
        Published();
        CheckHistory();
    }

    /// <summary>A standby that holds the run up to <c>m.HeldThrough</c> follows this node from the next step (or is told why it cannot).</summary>
    private void Resume(IActorRef r, ReplicaAttach m)
    {
        long from = m.HeldThrough + 1;
        if (_set.IsAttached(r)) { r.Tell(new ReplicaResumed(_runId!, from, "")); return; } // its ask again crossed the answer
        var (send, refusal) = m.RunId == _runId ? _history.After(m.HeldThrough) : ([], $"this coordinator holds another run ({_runId})");
        if (refusal is not null)
        {
            _warn($"standby {r.Path.Address.HostPort()} cannot resume from step {from}: {refusal}");
            r.Tell(new ReplicaResumed(m.RunId, from, refusal));
            return;
        }
        if (_known.Add(r)) Context.Watch(r);
        _set.Resumed(r);
        r.Tell(new ReplicaResumed(_runId!, from, ""));
        foreach (var d in send) r.Tell(d);
        _info($"standby {r.Path.Address.HostPort()} resumed with this coordinator from step {from}" + (send.Count > 0 ? $" ({send.Count} decision(s) it had missed sent first)" : ""));
        CheckHistory();
    }

    private void AnswerPending()
    {
        foreach (var (r, m) in _pendingResumes.ToList()) Resume(r, m);
        _pendingResumes.Clear();
    }

    /// <summary>Keeps the history only while some other coordinator of the cluster could still resume here.</summary>
    private void CheckHistory()
    {
        if (!_history.Keeping) return;
        var cluster = Cluster.Get(Context.System);
        var others = cluster.State.Members.Where(m => m.HasRole(AkkaConfig.CoordinatorRole) && m.Status == MemberStatus.Up && m.Address != cluster.SelfAddress);
        if (others.All(m => _known.Any(r => r.Path.Address == m.Address && _set.IsAttached(r)))) _history.Stop();
    }

    private static long Bytes(StepDecision d) => d.Gradient.ByteLength + (d.States?.ByteLength ?? 0);

    private void Published() => _status.Set(_set.WantsSnapshot);

    private void Done(long step)
    {
        Timers.Cancel("ack");
        _replyTo?.Tell(new Replicated(step, _set.Attached));
        _replyTo = null;
    }
}
