using System.Diagnostics;
using System.Numerics;
using Akka.Actor;
using Akka.Cluster;
using DistRnn.Coordinator.Channel;
using DistRnn.Coordinator.Membership;
using DistRnn.Coordinator.Scheduling;
using DistRnn.Coordinator.Verification;
using DistRnn.Model;
using DistRnn.Protocol;
using DistRnn.Reduction;
using DistRnn.Security;
using DistRnn.Transport;
using DistRnn.Transport.DataChannel;

namespace DistRnn.Coordinator.Node;

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
    private sealed record Verified(long Step, Subtree Node, IActorRef Sender, string Reason, ShardSum<T>? Sum, Exception? Error) : INoSerializationVerificationNeeded;
    private sealed record BackupTick(long Step);
    private sealed record EndGraceOver;

    private readonly CoordinatorSettings _s;
    private readonly ClusterStatus _status;
    private readonly ModelShape _shape;
    private readonly Subtree _root;
    private readonly DeadlinePolicy _deadlines;
    private readonly BackupPolicy _backups;
    /// <summary>When (since the step began) each worker of the step in flight delivered the last of its share.</summary>
    private readonly Dictionary<IActorRef, TimeSpan> _finishedAt = new();
    /// <summary>Stragglers already named to the user (once per worker, not every step).</summary>
    private readonly HashSet<IActorRef> _namedSlow = new();
    private readonly RegistrationGate _gate;
    private readonly GradientValidator<T> _validator;
    /// <summary>Every step's sequences have T predicted characters each: the validator's character counts come from this.</summary>
    private readonly SequenceRef[] _uniformBatch;
    /// <summary>What each worker was given in the step in flight (a result for anything outside it is refused).</summary>
    private readonly Dictionary<IActorRef, HashSet<Subtree>> _given = new();
    /// <summary>When (since the step began) each worker was last given work in the step in flight: a deadline warning says how long it has had it.</summary>
    private readonly Dictionary<IActorRef, TimeSpan> _givenAt = new();
    /// <summary>Nodes excluded for a malformed result, and why: never registered again in this run.</summary>
    private readonly Dictionary<string, string> _excluded = new();
    private readonly HashSet<Address> _strangers = new();
    /// <summary>Recomputes a subtree whose result is non-finite (null without the corpus: such a result then excludes its sender).</summary>
    private readonly SubtreeVerifier<T>? _verifier;
    private readonly HashSet<Subtree> _verifying = new();
    private Tensors<T>? _stepTensors;
    private long _divergedStep = -1;
    private readonly Stack<T[]> _freeGradients = new();
    private readonly List<T[]> _usedGradients = new();
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
    /// <summary>Tensors to and from workers that connected to it (null: everything over Akka).</summary>
    private readonly DataChannelServer<IActorRef>? _channel;

    public ITimerScheduler Timers { get; set; } = null!;

    public CoordinatorActor(CoordinatorSettings settings, ClusterStatus status, DataChannelServer<IActorRef>? channel = null)
    {
        _s = settings;
        _channel = channel;
        _status = status;
        _shape = new ModelShape(settings.VocabSize, settings.Config.Hidden);
        _root = Subtree.Root(settings.Config.ShardCount);
        _deadlines = settings.Deadline();
        _backups = settings.Backup();
        _gate = new RegistrationGate(settings.Secret);
        _validator = new GradientValidator<T>(_shape, settings.Config.ShardCount);
        _uniformBatch = Enumerable.Repeat(new SequenceRef(0, settings.Config.Seq), settings.Config.Batch).ToArray();
        if (settings.Corpus is not null) _verifier = new SubtreeVerifier<T>(settings.Config, settings.Corpus, Math.Max(1, Environment.ProcessorCount / 2));

        Receive<JoinRequest>(OnJoinRequest);
        Receive<Register>(OnRegister);
        Receive<RunStep<T>>(OnRunStep);
        Receive<SubtreeResult>(OnResult);
        // a result that came over the data channel: the same checks, then its pooled frame goes back
        Receive<DataDelivery>(d => { try { if (d.Message is SubtreeResult r) OnResult(r); } finally { d.Release(); } });
        Receive<DataChannelLost>(OnChannelLost);
        Receive<DeadlineTick>(OnDeadline);
        Receive<Verified>(OnVerified);
        Receive<BackupTick>(OnBackup);
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
        if (_excluded.TryGetValue(BanKey(Sender), out var why)) { Sender.Tell(new Refused($"excluded from this run: {why}")); return; }
        if (m.ProtocolVersion != ProtocolInfo.Version)
        {
            var reason = $"protocol version {m.ProtocolVersion} differs from the coordinator's {ProtocolInfo.Version}";
            _s.Warn($"refused worker {m.Node}: {reason}");
            Sender.Tell(new Refused(reason));
            return;
        }
        SendSpec(m.Nonce);
    }

    /// <summary>The run's spec with a fresh challenge for the sender, and (when it sent a nonce) the coordinator's own proof.</summary>
    private void SendSpec(byte[]? workerNonce)
    {
        var context = _s.ProofContext(WorkerAddress(Sender));
        Sender.Tell(_s.Spec with
        {
            Challenge = _gate.Challenge(context.WorkerAddress) ?? [],
            CoordinatorProof = workerNonce is { Length: > 0 } ? _gate.ProveSelf(workerNonce, context) ?? [] : [],
        });
    }

    /// <summary>
    /// The address a message came from, as the proof must name it: the sender's remote address, or this
    /// node's own for a sender in this actor system (tests with probes).
    /// </summary>
    private string WorkerAddress(IActorRef sender) =>
        (sender.Path.Address.HasGlobalScope ? sender.Path.Address : AkkaConfig.BoundAddress(Context.System)).ToString();

    private void OnRegister(Register m)
    {
        if (_endReplyTo is not null) { Sender.Tell(new Refused("the run is over")); return; }
        if (_excluded.TryGetValue(BanKey(Sender), out var why)) { Sender.Tell(new Refused($"excluded from this run: {why}")); return; }
        if (_s.RefusalReason(m) is string reason)
        {
            _s.Warn($"refused worker {m.Node}: {reason}");
            Sender.Tell(new Refused(reason));
            return;
        }
        var gate = _gate.Check(_s.ProofContext(WorkerAddress(Sender)), m.Proof ?? []);
        if (gate.Outcome == GateOutcome.Rechallenge)
        {
            if (!_workers.ContainsKey(Sender)) SendSpec(null); // a late answer to a replaced or expired challenge: ask again
            return;
        }
        if (gate.Outcome == GateOutcome.Refuse)
        {
            _s.Warn($"refused worker {m.Node} at {WorkerAddress(Sender)}: {gate.Reason}");
            Sender.Tell(new Refused(gate.Reason!));
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
            if (_channel is not null)
            {
                var ticket = _channel.Issue(Sender, WorkerAddress(Sender));
                Sender.Tell(new DataChannelOffer(_s.RunId, _channel.Port, ticket.Id, ticket.Key));
            }
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

    /// <summary>
    /// Gradient buffers for results, reused from step to step (each is a large-object-heap array): the
    /// training loop has applied step k's sum before it asks for step k+1, so at that point every buffer
    /// of step k is free again (see <see cref="ClusterGradientSource{T}"/>: a sum is valid until the next step).
    /// </summary>
    private T[] RentGradient()
    {
        var buffer = _freeGradients.Count > 0 ? _freeGradients.Pop() : new T[_shape.Count];
        _usedGradients.Add(buffer);
        return buffer;
    }

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
        foreach (var b in _usedGradients) _freeGradients.Push(b);
        _usedGradients.Clear();
        _stepReplyTo = Sender;
        _stepParams = TensorPayload.Wrap(m.Parameters.Data);
        _stepTensors = m.Parameters;
        _verifying.Clear();
        _step = new StepState<IActorRef, ShardSum<T>>(m.Step, _root, ShardSum<T>.Combine);
        _given.Clear();
        _givenAt.Clear();
        _finishedAt.Clear();
        Timers.Cancel("backup");
        _stepClock.Restart();
        Send(_step.Start(_order));
        Diagnostics.StepTimeline.Mark(m.Step, Diagnostics.StepPoint.CoordinatorSent);
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
        {
            if (!_given.TryGetValue(a.Worker, out var given)) _given[a.Worker] = given = new HashSet<Subtree>();
            given.UnionWith(a.Nodes);
            _givenAt[a.Worker] = _stepClock.Elapsed;
            var job = new ComputeSubtrees(_s.RunId, _step.Step, a.Nodes.ToArray(), _stepParams);
            if (_channel is null || !_channel.TrySend(a.Worker, job)) a.Worker.Tell(job, Self);
        }
    }

    /// <summary>An excluded worker's node (its remote address), or the actor itself when it lives in this system (tests).</summary>
    private static string BanKey(IActorRef a) => a.Path.Address.HasGlobalScope ? a.Path.Address.ToString() : a.Path.ToString();

    /// <summary>The node, or a node containing it, was sent to this worker in this step (a part of an assigned subtree is as good as the whole).</summary>
    private bool WasGiven(IActorRef worker, Subtree node) => _given.TryGetValue(worker, out var given) && given.Any(g => g.Contains(node));

    /// <summary>
    /// A worker sent a malformed result or one it was not asked for: it takes no further part (its node is
    /// refused from now on, and told why), and its outstanding shards go to the others. Results of it that
    /// passed every check before are kept: a recomputed subtree would have the same bits.
    /// </summary>
    private void Exclude(IActorRef worker, string reason)
    {
        string name = Name(worker);
        if (_excluded.Count < 1024) _excluded[BanKey(worker)] = reason;
        _s.Warn($"refused a result from worker {name} ({worker.Path.Address}) and excluded it from the run: {reason}");
        worker.Tell(new Refused($"excluded from the run: {reason}"), Self);
        Lose(worker, "was excluded", graceful: false);
        _given.Remove(worker);
    }

    private void OnResult(SubtreeResult m)
    {
        Diagnostics.StepTimeline.Mark(m.Step, Diagnostics.StepPoint.CoordinatorReceived);
        if (m.RunId != _s.RunId || _step is null) return; // another run's, or between steps: stale
        if (_excluded.ContainsKey(BanKey(Sender))) return; // nothing from an excluded node is used
        if (!_given.ContainsKey(Sender) && !_workers.ContainsKey(Sender) && !_unreachable.ContainsKey(Sender))
        {
            if (_strangers.Count < 64 && _strangers.Add(Sender.Path.Address))
                _s.Warn($"ignored a result from {Sender.Path.Address}: not a registered worker");
            return;
        }
        // Every result is checked before the model may see it (Security/GradientValidator): a malformed one,
        // or one not asked of this worker, excludes the worker and its shards go to the others.
        var header = _validator.CheckHeader(_step.Step, m.Step, m.Node, WasGiven(Sender, m.Node),
            GradientValidator<T>.ExpectedChars(_uniformBatch, _s.Config.ShardCount, m.Node), m.Loss, m.Chars, m.Gradient.Count);
        if (header.Kind == GradientVerdictKind.Stale) return; // a late answer for an earlier step
        if (header.Kind == GradientVerdictKind.Reject) { Exclude(Sender, header.Reason!); return; }
        if (m.Gradient.Precision != TensorPayload.PrecisionOf<T>())
        {
            Exclude(Sender, $"gradient of subtree {m.Node} is {m.Gradient.Precision.Name()}, this run is {TensorPayload.PrecisionOf<T>().Name()}");
            return;
        }
        if (_step.Check(m.Step, m.Node) != ResultVerdict.Accepted) return; // duplicate: the first copy won
        var grad = RentGradient();
        m.Gradient.CopyTo(grad);
        var values = _validator.CheckValues(m.Node, grad);
        if (values.Kind == GradientVerdictKind.Reject) { Exclude(Sender, values.Reason!); return; }
        if (header.Kind == GradientVerdictKind.Suspect || values.Kind == GradientVerdictKind.Suspect)
        {
            Suspect(Sender, m.Node, (header.Kind == GradientVerdictKind.Suspect ? header : values).Reason!, new ShardSum<T>(new Tensors<T>(_shape, grad), m.Loss, m.Chars));
            return;
        }
        _step.Offer(m.Step, m.Node, new ShardSum<T>(new Tensors<T>(_shape, grad), m.Loss, m.Chars));
        if (!_step.IsComplete) Finished(Sender);
        CompleteIfDone();
    }

    private void CompleteIfDone()
    {
        if (_step is null || !_step.IsComplete || _stepReplyTo is null && _stepParams is null) return;
        Timers.Cancel("deadline");
        Timers.Cancel("backup");
        _deadlines.Observe(_stepClock.Elapsed);
        var done = new StepCompleted<T>(_step.Step, _step.Result);
        _stepParams = null;
        _stepTensors = null;
        _stepReplyTo?.Tell(done);
        _stepReplyTo = null;
    }

    /// <summary>
    /// A result with NaN or ±∞: honest workers send those when the parameters diverge (the step is then skipped
    /// and counted by the training session), a rogue one on purpose. The coordinator recomputes that subtree
    /// itself, off the actor's thread, and the model gets the recomputed sum either way; the sender is excluded
    /// only when the recomputation comes out finite. Once a step is known to diverge, further non-finite
    /// results of it are taken as they are: the step is skipped whatever they hold.
    /// </summary>
    private void Suspect(IActorRef sender, Subtree node, string reason, ShardSum<T> sent)
    {
        var step = _step!;
        if (_divergedStep == step.Step) { step.Offer(step.Step, node, sent); CompleteIfDone(); return; }
        if (_verifier is null || _stepTensors is null) { Exclude(sender, reason); return; }
        if (!_verifying.Add(node)) return; // already being recomputed: its result will fill the node
        var verifier = _verifier;
        var parameters = _stepTensors.Clone(); // the step's snapshot is reused two steps on, and this may take longer
        long stepNo = step.Step;
        Task.Factory.StartNew(() => verifier.Recompute(stepNo, node, parameters), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default)
            .PipeTo(Self, success: sum => new Verified(stepNo, node, sender, reason, sum, null), failure: e => new Verified(stepNo, node, sender, reason, null, e));
    }

    private void OnVerified(Verified v)
    {
        bool current = _step is not null && _step.Step == v.Step;
        if (current) _verifying.Remove(v.Node);
        if (v.Sum is not ShardSum<T> sum)
        {
            _s.Warn($"step {v.Step}: recomputing subtree {v.Node} failed ({v.Error?.GetBaseException().Message}); it is handed out again");
            if (current && !_step!.IsComplete) Send(_step.DeadlinePassed());
            return;
        }
        bool nonFinite = SubtreeVerifier<T>.IsNonFinite(sum);
        if (!nonFinite && !_excluded.ContainsKey(BanKey(v.Sender)))
            Exclude(v.Sender, $"{v.Reason}, but the same subtree recomputed here is finite");
        if (!current) return;
        if (nonFinite)
        {
            _divergedStep = v.Step;
            _s.Info($"step {v.Step}: subtree {v.Node} is non-finite here too (the parameters diverge); the worker is not at fault");
        }
        if (_step!.Check(v.Step, v.Node) == ResultVerdict.Accepted) _step.Offer(v.Step, v.Node, sum);
        CompleteIfDone();
    }

    // ---- stragglers ----

    /// <summary>A worker may have delivered the last of its share: note when, and (re)arm the backup timer.</summary>
    private void Finished(IActorRef worker)
    {
        if (_step is null || _finishedAt.ContainsKey(worker) || _step.Outstanding(worker).Count > 0) return;
        _finishedAt[worker] = _stepClock.Elapsed;
        // measured against the workers taking part now (a lost one's pieces have gone to the others already)
        if (_backups.BackupAt(_finishedAt.Values, _step.Live.Count) is TimeSpan at)
        {
            var wait = at - _stepClock.Elapsed;
            Timers.StartSingleTimer("backup", new BackupTick(_step.Step), wait > TimeSpan.Zero ? wait : TimeSpan.Zero);
        }
    }

    /// <summary>The others are long done: idle workers recompute what the slow ones still owe (first result wins).</summary>
    private void OnBackup(BackupTick t)
    {
        if (_step is null || _step.Step != t.Step || _step.IsComplete) return;
        var slow = _step.Live.Where(w => _step.Outstanding(w).Count > 0).ToList();
        var backups = _step.Backups();
        if (backups.Count == 0) return;
        foreach (var w in slow.Where(_namedSlow.Add))
            _s.Info($"step {_step.Step}: worker {Name(w)} is slow (still busy at {_backups.Multiplier:0.#}× the others' median time); idle workers recompute its shards as backups, the first result wins");
        Send(backups);
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
            // how long each has had its work: one given work by a reassignment just now is not "silent for the whole deadline"
            var late = _step.Live.Where(w => _step.Outstanding(w).Count > 0)
                .Select(w => $"{Name(w)} (its work given {Seconds(_stepClock.Elapsed - _givenAt.GetValueOrDefault(w))} ago)").ToList();
            var backups = _step.DeadlinePassed();
            if (late.Count > 0)
                _s.Warn($"step {_step.Step}: the step's {Seconds(_deadline)} deadline passed without a result from {string.Join(", ", late)}; handing its shards out again");
            Send(backups);
        }
        _deadline = DeadlinePolicy.Extend(_deadline);
        ArmDeadline();
    }

    private static string Seconds(TimeSpan t) => t.TotalSeconds < 10 ? $"{t.TotalSeconds:0.0} s" : $"{t.TotalSeconds:F0} s";

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
            if (_excluded.ContainsKey(BanKey(w))) { _unreachable.Remove(w); continue; }
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
        _channel?.Forget(worker);
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

    /// <summary>
    /// A worker's data channel broke or stalled (its connection closed, within the channel's bounds): whatever it
    /// still owes of the step is sent again over Akka, and its tensors go over Akka from now on. Whether the worker
    /// itself is lost stays Akka's call (reachability, membership), and the step's deadline still covers the rest.
    /// </summary>
    private void OnChannelLost(DataChannelLost m)
    {
        if (_endReplyTo is not null || !_workers.TryGetValue(m.Worker, out var info)) return;
        var owed = _step is not null && !_step.IsComplete ? _step.Outstanding(m.Worker) : [];
        _s.Warn($"worker {info.Node}: its data channel broke ({m.Why}); its tensors go over Akka from now on" +
            (owed.Count > 0 ? $" (step {_step!.Step}: {string.Join(" ", owed)} sent again)" : ""));
        if (owed.Count > 0) Send([new Assignment<IActorRef>(m.Worker, owed)]);
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
        Timers.Cancel("backup");
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
