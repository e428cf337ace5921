using Akka.Actor;
using DistRnn.Protocol;
using DistRnn.Transport;
using DistRnn.Worker.Node;

namespace DistRnn.Coordinator.Failover;

/// <summary>The run's state as the active coordinator sent it: its run id and the checkpoint of step <see cref="Step"/>.</summary>
public sealed record ReplicaSnapshot(string RunId, long Step, byte[] Checkpoint);

/// <summary>
/// A standby's end of the replication stream (<c>/user/replica</c>), a thin shell over <see cref="SnapshotAssembly"/>
/// and <see cref="ReplicaLog{TDecision}"/>: asks the active coordinator at <c>--standby</c> (only that node, with the
/// coordinator role: <see cref="CoordinatorPin"/>) for the state until the snapshot is in, then hands the training
/// loop one decision per step and acknowledges it as the loop takes it (the loop has applied every step before).
/// </summary>
public sealed class ReplicaActor : ReceiveActor, IWithTimers
{
    private sealed record AskAgain;

    private readonly Address _active;
    private readonly CoordinatorPin _pin;
    private readonly string _node;
    private readonly TaskCompletionSource<ReplicaSnapshot> _snapshot;
    private readonly SnapshotAssembly _assembly = new();
    private ReplicaLog<StepDecision>? _log;
    private string? _runId;
    private IActorRef? _source;
    private (long Step, IActorRef Asker)? _asked;
    private string? _broken;

    public ITimerScheduler Timers { get; set; } = null!;

    public ReplicaActor(Address active, string node, TaskCompletionSource<ReplicaSnapshot> snapshot)
    {
        _active = active;
        _pin = CoordinatorPin.For(active);
        _node = node;
        _snapshot = snapshot;
        Receive<AskAgain>(_ => Attach());
        Receive<ReplicaSnapshotPart>(m =>
        {
            if (_log is not null || !_pin.Matches(Sender.Path.Address)) return;
            if (_assembly.Add(m.RunId, m.Step, m.Index, m.Count, m.Bytes) is not byte[] bytes) return;
            Timers.Cancel("attach");
            _runId = m.RunId;
            _source = Sender;
            _log = new ReplicaLog<StepDecision>(m.Step);
            _snapshot.TrySetResult(new ReplicaSnapshot(m.RunId, m.Step, bytes));
        });
        Receive<StepDecision>(m =>
        {
            if (_log is null || _broken is not null || m.RunId != _runId || !Sender.Equals(_source)) return;
            switch (_log.Offer(m.Step, m))
            {
                case StreamVerdict.Gap:
                    _broken = $"the replication stream from {_active.HostPort()} skipped to step {m.Step} after step {_log.Received}";
                    _asked?.Asker.Tell(new Status.Failure(new InvalidOperationException(_broken)));
                    _asked = null;
                    break;
                case StreamVerdict.Take when _asked is { } a && a.Step == m.Step:
                    _asked = null;
                    Hand(a.Step, a.Asker);
                    break;
            }
        });
        Receive<NextDecision>(m =>
        {
            if (_broken is not null) { Sender.Tell(new Status.Failure(new InvalidOperationException(_broken))); return; }
            _asked = (m.Step, Sender);
            if (_log?.Received >= m.Step) { _asked = null; Hand(m.Step, Sender); }
        });
    }

    protected override void PreStart() => Attach();

    private void Attach()
    {
        Context.ActorSelection(new RootActorPath(_active) / "user" / AkkaConfig.ReplicationActorName).Tell(new ReplicaAttach(ProtocolInfo.Version, _node));
        Timers.StartSingleTimer("attach", new AskAgain(), TimeSpan.FromSeconds(2));
    }

    private void Hand(long step, IActorRef asker)
    {
        if (_log!.Take(step) is not StepDecision d) return;
        _source!.Tell(new DecisionAck(d.RunId, d.Step));
        asker.Tell(d);
    }
}
