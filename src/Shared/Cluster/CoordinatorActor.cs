using System.Diagnostics;
using System.Numerics;
using Akka.Actor;
using Akka.Cluster;
using DistRnn.Cluster.Scheduling;
using DistRnn.Model;
using DistRnn.Protocol;
using DistRnn.Training;

namespace DistRnn.Cluster;

/// <summary>
/// The coordinator (role coordinator): registers workers that prove the same corpus, configuration and
/// protocol, and runs one step at a time for the training loop. A thin shell: which subtrees go where,
/// what to reassign and which results to keep is decided by <see cref="StepState{TWorker,TValue}"/>; this
/// actor only turns messages, cluster events and timers into calls on it. A worker counts as lost when it
/// becomes unreachable, leaves, is removed or stops — not only on Terminated, which for a crashed node
/// arrives only after it is downed — and a per-step deadline hands out the pieces of a silent one again.
/// </summary>
public sealed class CoordinatorActor<T> : ReceiveActor, IWithTimers where T : unmanaged, IFloatingPointIeee754<T>
{
    private sealed record WorkerInfo(string Node, int Threads)
    {
        public override string ToString() => Node;
    }

    private sealed record DeadlineTick(long Step);
    private sealed record EndGraceOver;

    private readonly CoordinatorSettings _s;
    private readonly ClusterStatus _status;
    private readonly ModelShape _shape;
    private readonly Subtree _root;
    private readonly DeadlinePolicy _deadlines;
    private readonly Dictionary<IActorRef, WorkerInfo> _workers = new();
    private readonly List<IActorRef> _order = new();
    private readonly Dictionary<IActorRef, WorkerInfo> _unreachable = new();
    private readonly List<(int Minimum, IActorRef ReplyTo)> _waiters = new();

    private StepState<IActorRef, ShardSum<T>>? _step;
    private IActorRef? _stepReplyTo;
    private TensorPayload? _stepParams;
    private readonly Stopwatch _stepClock = new();
    private TimeSpan _deadline;
    private Stopwatch? _noWorkersFor;
    private IActorRef? _endReplyTo;
    private int _leftAtEnd;
    private bool _endAnswered;

    public ITimerScheduler Timers { get; set; } = null!;

    public CoordinatorActor(CoordinatorSettings settings, ClusterStatus status)
    {
        _s = settings;
        _status = status;
        _shape = new ModelShape(settings.VocabSize, settings.Config.Hidden);
        _root = Subtree.Root(settings.Config.ShardCount);
        _deadlines = settings.Deadline();

        Receive<JoinRequest>(OnJoinRequest);
        Receive<Register>(OnRegister);
        Receive<RunStep<T>>(OnRunStep);
        Receive<SubtreeResult>(OnResult);
        Receive<DeadlineTick>(OnDeadline);
        Receive<WorkerLeaving>(m => Lose(Sender, $"left ({m.Reason})", graceful: true));
        Receive<Terminated>(t => Lose(t.ActorRef, "stopped", graceful: false));
        Receive<ClusterEvent.UnreachableMember>(m => LoseAddress(m.Member.Address, "is unreachable", keepForReturn: true));
        Receive<ClusterEvent.ReachableMember>(m => Returned(m.Member.Address));
        Receive<ClusterEvent.MemberRemoved>(m => { LoseAddress(m.Member.Address, "was removed from the cluster", keepForReturn: false); Forget(m.Member.Address); });
        Receive<ClusterEvent.MemberLeft>(m => LoseAddress(m.Member.Address, "is leaving the cluster", keepForReturn: false));
        Receive<ClusterEvent.MemberExited>(m => LoseAddress(m.Member.Address, "is leaving the cluster", keepForReturn: false));
        Receive<ClusterEvent.IMemberEvent>(_ => { });
        Receive<AwaitWorkers>(m => { _waiters.Add((m.Minimum, Sender)); ReplyToWaiters(); });
        Receive<EndRun>(OnEndRun);
        Receive<EndGraceOver>(_ => ReplyEnd());
    }

    protected override void PreStart()
    {
        if (Context.System is ExtendedActorSystem { Provider: IClusterActorRefProvider })
            Akka.Cluster.Cluster.Get(Context.System).Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsEvents,
                typeof(ClusterEvent.IMemberEvent), typeof(ClusterEvent.IReachabilityEvent));
    }

    protected override void PostStop()
    {
        if (Context.System is ExtendedActorSystem { Provider: IClusterActorRefProvider })
            Akka.Cluster.Cluster.Get(Context.System).Unsubscribe(Self);
        _stepReplyTo?.Tell(new Status.Failure(new ClusterException("the coordinator stopped")));
    }

    // ---- registration ----

    private void OnJoinRequest(JoinRequest m)
    {
        if (m.ProtocolVersion != ProtocolInfo.Version)
        {
            var reason = $"protocol version {m.ProtocolVersion} differs from the coordinator's {ProtocolInfo.Version}";
            _s.Warn($"refused worker {m.Node}: {reason}");
            Sender.Tell(new Refused(reason));
            return;
        }
        Sender.Tell(_s.Spec);
    }

    private void OnRegister(Register m)
    {
        if (_endReplyTo is not null) { Sender.Tell(new Refused("the run is over")); return; }
        if (_s.RefusalReason(m) is string reason)
        {
            _s.Warn($"refused worker {m.Node}: {reason}");
            Sender.Tell(new Refused(reason));
            return;
        }
        if (!_workers.ContainsKey(Sender))
        {
            _unreachable.Remove(Sender);
            _workers[Sender] = new WorkerInfo(m.Node, m.Threads);
            _order.Add(Sender);
            Context.Watch(Sender);
            Published();
            _s.Info($"worker {m.Node} registered ({m.Threads} threads; {_workers.Count} worker{(_workers.Count == 1 ? "" : "s")})");
            Sender.Tell(new Registered(_s.RunId, _workers.Count));
            if (_step is not null && !_step.IsComplete) Send(_step.WorkerJoined(Sender)); // work that waits for a worker
        }
        else Sender.Tell(new Registered(_s.RunId, _workers.Count));
        ReplyToWaiters();
    }

    private void ReplyToWaiters()
    {
        for (int i = _waiters.Count - 1; i >= 0; i--)
        {
            if (_workers.Count < _waiters[i].Minimum) continue;
            _waiters[i].ReplyTo.Tell(new WorkersReady(_workers.Count));
            _waiters.RemoveAt(i);
        }
    }

    // ---- the step ----

    private void OnRunStep(RunStep<T> m)
    {
        if (_step is not null && !_step.IsComplete)
        {
            Sender.Tell(new Status.Failure(new InvalidOperationException($"step {m.Step} asked while step {_step.Step} is running")));
            return;
        }
        if (m.Parameters.Data.Length != _shape.Count)
        {
            Sender.Tell(new Status.Failure(new ArgumentException($"parameters have {m.Parameters.Data.Length} values, the model {_shape.Count}")));
            return;
        }
        _stepReplyTo = Sender;
        _stepParams = TensorPayload.Wrap(m.Parameters.Data);
        _step = new StepState<IActorRef, ShardSum<T>>(m.Step, _root, ShardSum<T>.Combine);
        _stepClock.Restart();
        Send(_step.Start(_order));
        if (_workers.Count == 0)
        {
            _noWorkersFor ??= Stopwatch.StartNew();
            _s.Warn($"step {m.Step}: no worker registered; waiting for one");
        }
        _deadline = _deadlines.Next();
        ArmDeadline();
    }

    private void ArmDeadline() => Timers.StartSingleTimer("deadline", new DeadlineTick(_step!.Step), _deadline);

    private void Send(List<Assignment<IActorRef>> assignments)
    {
        if (_step is null || _stepParams is null) return;
        foreach (var a in assignments)
            a.Worker.Tell(new ComputeSubtrees(_s.RunId, _step.Step, a.Nodes.ToArray(), _stepParams), Self);
    }

    private void OnResult(SubtreeResult m)
    {
        if (m.RunId != _s.RunId || _step is null) return; // another run's, or between steps: stale
        var verdict = _step.Check(m.Step, m.Node);
        if (verdict == ResultVerdict.Invalid)
            _s.Warn($"ignored a result for subtree {m.Node} of step {m.Step} from {Sender.Path.Address}: not a node of this step's tree");
        if (verdict != ResultVerdict.Accepted) return; // stale or duplicate: the first copy won
        T[] grad;
        try { grad = m.Gradient.ToArray<T>(_shape.Count); }
        catch (ProtocolException e)
        {
            _s.Warn($"ignored a malformed result for subtree {m.Node} of step {m.Step} from {Sender.Path.Address}: {e.Message}");
            return;
        }
        _step.Offer(m.Step, m.Node, new ShardSum<T>(new Tensors<T>(_shape, grad), m.Loss, m.Chars));
        if (!_step.IsComplete) return;

        Timers.Cancel("deadline");
        _deadlines.Observe(_stepClock.Elapsed);
        var done = new StepCompleted<T>(_step.Step, _step.Result);
        _stepParams = null;
        _stepReplyTo?.Tell(done);
        _stepReplyTo = null;
    }

    private void OnDeadline(DeadlineTick t)
    {
        if (_step is null || _step.Step != t.Step || _step.IsComplete) return;
        if (_step.Live.Count == 0)
        {
            if (_noWorkersFor is not null && _noWorkersFor.Elapsed > _s.NoWorkerTimeout)
            {
                _stepReplyTo?.Tell(new Status.Failure(new ClusterException(
                    $"no worker for {_noWorkersFor.Elapsed.TotalSeconds:F0} s at step {_step.Step}; giving up (a checkpoint lets you resume)")));
                _stepReplyTo = null;
                return;
            }
            _s.Warn($"step {_step.Step}: still no worker; waiting");
        }
        else
        {
            var late = _step.Live.Where(w => _step.Outstanding(w).Count > 0).Select(Name).ToList();
            var backups = _step.DeadlinePassed();
            if (late.Count > 0)
                _s.Warn($"step {_step.Step}: no result from {string.Join(", ", late)} within {_deadline.TotalSeconds:F0} s; handing its shards out again");
            Send(backups);
        }
        _deadline = DeadlinePolicy.Extend(_deadline);
        ArmDeadline();
    }

    // ---- membership ----

    private string Name(IActorRef w) =>
        _workers.TryGetValue(w, out var i) ? i.Node : _unreachable.TryGetValue(w, out var u) ? u.Node : w.Path.Address.ToString();

    private void LoseAddress(Address address, string why, bool keepForReturn)
    {
        foreach (var w in _workers.Keys.Where(w => w.Path.Address == address).ToList())
        {
            var info = _workers[w];
            Lose(w, why, graceful: false);
            if (keepForReturn) _unreachable[w] = info;
        }
    }

    private void Forget(Address address)
    {
        foreach (var w in _unreachable.Keys.Where(w => w.Path.Address == address).ToList()) _unreachable.Remove(w);
    }

    /// <summary>A worker that was unreachable is reachable again: it takes part again (it is still registered on its side).</summary>
    private void Returned(Address address)
    {
        foreach (var (w, info) in _unreachable.Where(kv => kv.Key.Path.Address == address).ToList())
        {
            _unreachable.Remove(w);
            if (_endReplyTo is not null) continue;
            _workers[w] = info;
            _order.Add(w);
            Published();
            _s.Info($"worker {info.Node} is reachable again ({_workers.Count} workers)");
            if (_step is not null && !_step.IsComplete) Send(_step.WorkerJoined(w));
            ReplyToWaiters();
        }
    }

    private void Lose(IActorRef worker, string why, bool graceful)
    {
        if (!_workers.Remove(worker, out var info))
        {
            _unreachable.Remove(worker);
            return;
        }
        _order.Remove(worker);
        Context.Unwatch(worker);
        Published();
        if (_endReplyTo is not null)
        {
            _leftAtEnd++;
            if (_workers.Count == 0) ReplyEnd();
            return;
        }
        var note = $"worker {info.Node} {why}; {_workers.Count} worker{(_workers.Count == 1 ? "" : "s")} left";
        if (graceful) _s.Info(note); else _s.Warn(note);
        if (_step is null || _step.IsComplete) return;
        var moved = _step.WorkerLost(worker);
        if (moved.Count > 0)
            _s.Warn($"step {_step.Step}: its shards go to {string.Join(", ", moved.Select(a => $"{Name(a.Worker)} ({string.Join(" ", a.Nodes)})"))}");
        Send(moved);
        if (_step.Live.Count == 0)
        {
            _noWorkersFor ??= Stopwatch.StartNew();
            _s.Warn($"step {_step.Step}: no worker left; waiting for one");
        }
    }

    private void Published()
    {
        _status.SetWorkers(_workers.Count);
        if (_workers.Count > 0) _noWorkersFor = null;
    }

    // ---- the end ----

    private void OnEndRun(EndRun m)
    {
        _endReplyTo = Sender;
        _leftAtEnd = 0;
        Timers.Cancel("deadline");
        _stepReplyTo?.Tell(new Status.Failure(new ClusterException("the run ended")));
        _stepReplyTo = null;
        foreach (var w in _order) w.Tell(new RunEnded(m.Completed, m.Reason), Self);
        if (_workers.Count == 0) ReplyEnd();
        else Timers.StartSingleTimer("end", new EndGraceOver(), _s.EndGrace);
    }

    private void ReplyEnd()
    {
        if (_endReplyTo is null || _endAnswered) return;
        _endAnswered = true; // _endReplyTo stays set: the run is over, new registrations are refused
        Timers.Cancel("end");
        _endReplyTo.Tell(new RunEndAcknowledged(_leftAtEnd));
    }
}
