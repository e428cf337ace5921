using Akka.Actor;
using Akka.Cluster;
using DistRnn.Protocol;
using DistRnn.Transport;
using DistRnn.Worker.Node;

namespace DistRnn.Coordinator.Failover;

/// <summary>The run's state as the active coordinator sent it: its run id and the checkpoint of step <see cref="Step"/>.</summary>
public sealed record ReplicaSnapshot(string RunId, long Step, byte[] Checkpoint);

/// <summary>
/// A standby's end of the replication stream (<c>/user/replica</c>), a thin shell over <see cref="SnapshotAssembly"/>,
/// <see cref="ReplicaLog{TDecision}"/> and <see cref="CoordinatorChoice{TMember, TAddress}"/>. It follows the oldest
/// coordinator-role member that is up at one of its <c>--standby</c> addresses — where the cluster singleton places
/// the run, as workers choose (<see cref="CoordinatorPin"/>): asks it for the state until the snapshot is in, then
/// hands the training loop one decision per step and acknowledges it as the loop takes it (the loop has applied every
/// step before). When the one it follows is gone and another of them takes the run over, it resumes with that one
/// from the step after the last decision it holds; when this node is the oldest, <see cref="Leadership"/> hands it the
/// run instead.
/// </summary>
public sealed class ReplicaActor : ReceiveActor, IWithTimers
{
    private sealed record AskAgain;

    private readonly CoordinatorPin _pin;
    private readonly Address _self;
    private readonly string _node;
    private readonly TaskCompletionSource<ReplicaSnapshot> _snapshot;
    private readonly Action<string> _info, _warn;
    private readonly CoordinatorChoice<Member, Address> _choice = new(m => m.Address, (a, b) => a.IsOlderThan(b));
    private readonly SnapshotAssembly _assembly = new();
    /// <summary>The coordinator followed now (null: none up; this node's own address: it is the oldest).</summary>
    private Address? _following;
    /// <summary>Whether a resume was asked of <see cref="_following"/> and not yet answered; whether it refused.</summary>
    private bool _resuming, _refused;
    private ReplicaLog<StepDecision>? _log;
    private string? _runId;
    private IActorRef? _source;
    private (long Step, IActorRef Asker)? _asked;
    private string? _broken;

    public ITimerScheduler Timers { get; set; } = null!;

    /// <param name="coordinators">the <c>--standby</c> addresses: the coordinators this standby may follow</param>
    public ReplicaActor(IReadOnlyList<Address> coordinators, Address self, string node, TaskCompletionSource<ReplicaSnapshot> snapshot, Action<string> info, Action<string> warn)
    {
        _pin = CoordinatorPin.For([.. coordinators]);
        _self = self;
        _node = node;
        _snapshot = snapshot;
        _info = info;
        _warn = warn;
        Receive<ClusterEvent.MemberUp>(m =>
        {
            var member = m.Member;
            if (member.HasRole(AkkaConfig.CoordinatorRole) && (member.Address == _self || _pin.Matches(member.Address)) && _choice.Up(member)) Follow();
        });
        Receive<ClusterEvent.MemberRemoved>(m => { if (_choice.Gone(m.Member.Address)) Follow(); });
        Receive<ClusterEvent.IClusterDomainEvent>(_ => { });
        Receive<AskAgain>(_ => Attach());
        Receive<ReplicaSnapshotPart>(m =>
        {
            if (_log is not null || Sender.Path.Address != _following) return;
            if (_assembly.Add(m.RunId, m.Step, m.Index, m.Count, m.Bytes) is not byte[] bytes) return;
            Timers.Cancel("attach");
            _runId = m.RunId;
            _source = Sender;
            _log = new ReplicaLog<StepDecision>(m.Step);
            _snapshot.TrySetResult(new ReplicaSnapshot(m.RunId, m.Step, bytes));
        });
        Receive<ReplicaResumed>(m =>
        {
            if (!_resuming || Sender.Path.Address != _following || m.RunId != _runId) return;
            _resuming = false;
            Timers.Cancel("attach");
            if (m.Refusal.Length > 0)
            {
                _refused = true;
                _warn($"standby: the coordinator at {At(_following)} cannot take this standby on from step {m.From}: {m.Refusal}; " +
                    "it stays at that step (if the run comes to this node later, it computes the steps since again, to the same bits)");
                return;
            }
            _source = Sender;
            _info($"standby: following the coordinator at {At(_following)} from step {m.From} (it holds the run now)");
        });
        Receive<StepDecision>(m =>
        {
            if (_log is null || _broken is not null || m.RunId != _runId || !Sender.Equals(_source)) return;
            switch (_log.Offer(m.Step, m))
            {
                case StreamVerdict.Gap:
                    _broken = $"the replication stream from {At(Sender.Path.Address)} skipped to step {m.Step} after step {_log.Received}";
                    _asked?.Asker.Tell(new Status.Failure(new InvalidOperationException(_broken)));
                    _asked = null;
                    break;
                case StreamVerdict.Stale:
                    // a coordinator that took the run over computes a step this standby already had from the lost one
                    _source.Tell(new DecisionAck(m.RunId, m.Step));
                    break;
                case StreamVerdict.Take when _asked is { } a:
                    if (Hand(a.Step, a.Asker)) _asked = null;
                    break;
            }
        });
        Receive<NextDecision>(m =>
        {
            if (_broken is not null) { Sender.Tell(new Status.Failure(new InvalidOperationException(_broken))); return; }
            _asked = Hand(m.Step, Sender) ? null : (m.Step, Sender);
        });
    }

    protected override void PreStart() =>
        Cluster.Get(Context.System).Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsEvents,
            typeof(ClusterEvent.MemberUp), typeof(ClusterEvent.MemberRemoved));

    protected override void PostStop() => Cluster.Get(Context.System).Unsubscribe(Self);

    /// <summary>The coordinator to follow changed: attach to it (or resume with it).</summary>
    private void Follow()
    {
        var was = _following;
        _following = _choice.Current;
        _resuming = _refused = false;
        Timers.Cancel("attach");
        if (_following is null) return;
        if (_following == _self)
        {
            var older = Cluster.Get(Context.System).State.Members.FirstOrDefault(m =>
                m.HasRole(AkkaConfig.CoordinatorRole) && m.Status == MemberStatus.Up && m.Address != _self && m.IsOlderThan(Cluster.Get(Context.System).SelfMember));
            if (was is not null && older is not null)
                _warn($"standby: the coordinator at {At(was)} is gone and the run moves to {At(older.Address)}, which is not among --standby's addresses: " +
                    $"this standby does not follow it (give --standby {At(was)},{At(older.Address)} to resume with it)");
            return; // the oldest: the singleton, and with it the run, comes here (Leadership)
        }
        if (was is not null && _log is not null)
            _info($"standby: the coordinator at {At(was)} is gone; resuming with the one at {At(_following)} from step {_log.Received + 1}");
        Attach();
    }

    private void Attach()
    {
        if (_following is null || _following == _self || _refused) return;
        if (_log is null)
            Context.ActorSelection(new RootActorPath(_following) / "user" / AkkaConfig.ReplicationActorName).Tell(new ReplicaAttach(ProtocolInfo.Version, _node));
        else if (_source?.Path.Address == _following) return; // already in its stream
        else
        {
            _resuming = true;
            Context.ActorSelection(new RootActorPath(_following) / "user" / AkkaConfig.ReplicationActorName)
                .Tell(new ReplicaAttach(ProtocolInfo.Version, _node, _runId!, _log.Received));
        }
        Timers.StartSingleTimer("attach", new AskAgain(), TimeSpan.FromSeconds(_log is null ? 2 : 0.5));
    }

    /// <summary>An address as the command line gives it (HOST:PORT).</summary>
    private static string At(Address a) => $"{a.Host}:{a.Port}";

    /// <returns>whether the decision for <paramref name="step"/> was here and handed over</returns>
    private bool Hand(long step, IActorRef asker)
    {
        if (_log?.Take(step) is not StepDecision d) return false;
        _source!.Tell(new DecisionAck(d.RunId, d.Step));
        asker.Tell(d);
        return true;
    }
}
