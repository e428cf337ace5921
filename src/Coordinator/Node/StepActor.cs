using System.Diagnostics;
using System.Numerics;
using Akka.Actor;
using DistRnn.Coordinator.Channel;
using DistRnn.Coordinator.Scheduling;
using DistRnn.Coordinator.Training;
using DistRnn.Coordinator.Verification;
using DistRnn.Diagnostics;
using DistRnn.Model;
using DistRnn.Protocol;
using DistRnn.Reduction;
using DistRnn.Transport.DataChannel;

namespace DistRnn.Coordinator.Node;

/// <summary>
/// The step in flight, as a child of the <see cref="CoordinatorActor{T}"/> (the gather of Akka's DeviceGroupQuery
/// pattern: hand out, time out, accumulate, reply): everything of the step is decided by a
/// <see cref="StepRound{TWorker,T}"/>; this actor sends its jobs (over the data channel, else Akka — in the coordinator's
/// name, so workers answer the coordinator), arms its deadline and backup timers, recomputes suspect results off its
/// thread, and answers the training loop with the root sum. Membership comes from the parent, which also acts on
/// exclusions.
/// </summary>
public sealed class StepActor<T> : ReceiveActor, IWithTimers where T : unmanaged, IFloatingPointIeee754<T>
{
    private sealed record DeadlineTick(long Step);
    private sealed record BackupTick(long Step);
    private sealed record Verified(long Step, Subtree Node, IActorRef Sender, string Reason, ShardSum<T> Sent, (ShardSum<T> Sum, T[]? States)? Recomputed, Exception? Error) : INoSerializationVerificationNeeded
    {
        public ShardSum<T>? Sum => Recomputed?.Sum;
    }

    /// <summary>At most this many strangers are named in warnings (a flood of them cannot flood the log).</summary>
    public const int MaxNamedStrangers = 64;

    private readonly CoordinatorSettings _s;
    private readonly ModelShape _shape;
    private readonly DeadlinePolicy _deadlines;
    private readonly BackupPolicy _backups;
    private readonly GradientValidator<T> _validator;
    private readonly GradientPool<T> _pool;
    /// <summary>Recomputes a subtree whose result is suspect (null without the corpus: such a result then excludes its sender).</summary>
    private readonly SubtreeVerifier<T>? _verifier;
    private readonly DataChannelServer<IActorRef>? _channel;
    private readonly Dictionary<IActorRef, string> _names = new();
    private readonly HashSet<IActorRef> _excluded = new();
    private readonly HashSet<string> _namedStrangers = new(StringComparer.Ordinal);
    private readonly HashSet<IActorRef> _namedSlow = new();
    /// <summary>Workers that showed a sign of trouble (a broken data channel) and have not delivered since: their work is also given to others at once.</summary>
    private readonly HashSet<IActorRef> _suspects = new();
    private readonly Stopwatch _clock = new();
    private StepRound<IActorRef, T>? _round;
    /// <summary>The step's relay plans and root chunks on the tree data plane; null on the star.</summary>
    private RootGather<IActorRef, T>? _gather;
    /// <summary>Tree data plane: until when a worker whose data channel broke is left out of plans while others can do the work.</summary>
    private readonly Dictionary<IActorRef, TimeSpan> _sitsOutUntil = new();
    private static readonly TimeSpan SitOut = TimeSpan.FromSeconds(30);
    private readonly Stopwatch _uptime = Stopwatch.StartNew();
    /// <summary>Tree data plane: each worker's peer-link port, and the ticket every worker of this coordinator's plans proves on its peer links.</summary>
    private readonly Dictionary<IActorRef, int> _peerPorts = new();
    private readonly DataTicket _peerTicket = DataTicket.New();
    private GradientLease<T>? _roundLease;
    private IActorRef? _replyTo;
    private Stopwatch? _noWorkersFor;

    public ITimerScheduler Timers { get; set; } = null!;

    public StepActor(CoordinatorSettings settings, DataChannelServer<IActorRef>? channel)
    {
        _s = settings;
        _channel = channel;
        _shape = settings.Config.ShapeFor(settings.VocabSize);
        _deadlines = settings.Deadline();
        _backups = settings.Backup();
        _validator = new GradientValidator<T>(_shape, settings.Config.ShardCount, settings.Config.Dropout);
        _pool = new GradientPool<T>(_shape.Count);
        if (settings.Corpus is not null) _verifier = new SubtreeVerifier<T>(settings.Config, settings.Corpus, Math.Max(1, Environment.ProcessorCount / 2));

        Receive<StepAsked<T>>(OnStep);
        Receive<ResultArrived>(m => { try { OnResult(m); } finally { m.Frame?.Release(); } });
        Receive<TreeSum>(OnRootChunk);
        Receive<DataDelivery>(d => { try { if (d.Message is TreeSum s) OnRootChunk(s); } finally { d.Release(); } }); // the gather copies it
        Receive<WorkerJoined>(m =>
        {
            _names[m.Worker] = m.Name;
            _peerPorts[m.Worker] = m.PeerPort;
            _noWorkersFor = null;
            if (m.Suspect) _suspects.Add(m.Worker);
            if (_round is null) return;
            Send(_round.WorkerJoined(m.Worker));
            if (m.Suspect && !Tree) Send(_round.Suspected(m.Worker));
        });
        Receive<WorkerLost>(m => { _suspects.Remove(m.Worker); _peerPorts.Remove(m.Worker); _sitsOutUntil.Remove(m.Worker); OnLost(m); });
        Receive<WorkerChannelLost>(OnChannelLost);
        Receive<DeadlineTick>(OnDeadline);
        Receive<BackupTick>(OnBackup);
        Receive<Verified>(OnVerified);
        Receive<StepAborted>(m => { Timers.CancelAll(); Fail(m.Why); });
    }

    protected override void PostStop()
    {
        _verifier?.Dispose();
        Fail("the coordinator stopped");
    }

    private bool Tree => _s.DataPlane == DataPlane.Tree;

    private string Name(IActorRef w) => _names.TryGetValue(w, out var n) ? n : w.Path.Address.ToString();

    private void Fail(string why)
    {
        _replyTo?.Tell(new Status.Failure(new ClusterException(why)));
        _replyTo = null;
    }

    private void OnStep(StepAsked<T> asked)
    {
        var m = asked.Step;
        if (_round is { IsComplete: false })
        {
            Sender.Tell(new Status.Failure(new InvalidOperationException($"step {m.Step} asked while step {_round.Step} is running")));
            return;
        }
        if (m.Parameters.Data.Length != _shape.Count)
        {
            Sender.Tell(new Status.Failure(new ArgumentException($"parameters have {m.Parameters.Data.Length} values, the model {_shape.Count}")));
            return;
        }
        foreach (var (w, name) in asked.Workers) _names[w] = name;
        _replyTo = Sender;
        var lease = _pool.NewStep();
        _round = new StepRound<IActorRef, T>(_s.RunId, m.Step, m.Parameters, m.Batch, _s.Config.ShardCount, _validator, _backups, _deadlines.Next(), lease.Rent, Name, m.Carry);
        _roundLease = lease;
        Timers.Cancel("backup");
        _clock.Restart();
        var workers = asked.Workers.Select(w => w.Worker).ToList();
        if (Tree)
        {
            _gather = new RootGather<IActorRef, T>(_s.RunId, m.Step, _round.Root, _shape.Count);
            bool SitsOut(IActorRef w) => _sitsOutUntil.TryGetValue(w, out var until) && until > _uptime.Elapsed;
            if (workers.Any(w => !SitsOut(w))) workers.RemoveAll(SitsOut);
            Send(_round.Start(workers));
        }
        else
        {
            Send(_round.Start(workers));
            foreach (var suspect in _suspects) Send(_round.Suspected(suspect)); // dead or alive, its share does not wait for it
        }
        StepTimeline.Mark(m.Step, StepPoint.CoordinatorSent);
        if (asked.Workers.Count == 0)
        {
            _noWorkersFor ??= Stopwatch.StartNew();
            _s.Warn($"step {m.Step}: no worker registered; waiting for one");
        }
        Timers.StartSingleTimer("deadline", new DeadlineTick(m.Step), _round.Deadline);
    }

    /// <summary>Jobs go over the worker's data channel when it has one, else over Akka; either way in the coordinator's name.</summary>
    private void Send(List<Assignment<IActorRef>> assignments)
    {
        if (_round is null) return;
        var jobs = _round.Give(assignments, _clock.Elapsed);
        if (_gather is not null)
        {
            if (assignments.Count > 0) Replan();
            return;
        }
        foreach (var (worker, job) in jobs) SendJob(worker, job);
    }

    /// <summary>
    /// Tree data plane: a new epoch's plan over what the live workers hold now, to each of them (in the coordinator's
    /// name, like every job), and the parameters, chunk by chunk, to the root's owner, who passes them down the plan.
    /// Survivors keep what they computed of the step already, so a re-plan recomputes only what was lost.
    /// </summary>
    private void Replan()
    {
        if (_round is not { IsComplete: false } || _gather is null || !_round.AllAssigned || _round.Live.Count == 0) return;
        var plan = _gather.Replan(_round.Holdings());
        var paths = plan.Workers.Select(w => Akka.Serialization.Serialization.SerializedActorPath(w)).ToArray();
        var pieces = plan.Workers.Select(w => plan.PiecesOf(w).ToArray()).ToArray();
        // peer links only beside a data channel (DISTRNN_DATA_CHANNEL=off: every tensor over Akka)
        string[]? peers = _channel is null ? null : plan.Workers.Select(PeerEndpoint).ToArray();
        for (int i = 0; i < plan.Workers.Count; i++)
            SendJob(plan.Workers[i], new TreeStep(_s.RunId, _round.Step, plan.Epoch, paths, pieces, i, peers, _peerTicket.Id, _peerTicket.Key, _round.StatesPayload));
        foreach (var chunk in _gather.ParameterChunks(_round.Parameters.Data)) SendJob(plan.RootOwner, chunk);
    }

    /// <summary>Over the worker's data channel when it has one, else over Akka; in the coordinator's name either way.</summary>
    private void SendJob(IActorRef worker, object message)
    {
        if (_channel is null || !_channel.TrySend(worker, message)) worker.Tell(message, Context.Parent);
    }

    /// <summary>Where a worker's peer links listen ("host:port" on its Akka host), "" when it has none.</summary>
    private string PeerEndpoint(IActorRef w) =>
        _peerPorts.TryGetValue(w, out int port) && port > 0 && w.Path.Address.Host is { Length: > 0 } host
            ? (host.Contains(':') && !host.StartsWith('[') ? $"[{host}]:{port}" : $"{host}:{port}") : "";

    /// <summary>A chunk of the root's sum from its owner; once the root is whole it takes the path of every result.</summary>
    private void OnRootChunk(TreeSum m)
    {
        if (_round is null || _gather is null || _excluded.Contains(Sender)) return;
        var root = _gather.Offer(Sender, m);
        if (root is null) return;
        StepTimeline.Mark(m.Step, StepPoint.CoordinatorReceived);
        _suspects.Remove(Sender);
        Act(Sender, root, _round.OfferRoot(Sender, root, _clock.Elapsed));
        CompleteIfDone();
    }

    private void OnResult(ResultArrived arrived)
    {
        var m = arrived.Result;
        StepTimeline.Mark(m.Step, StepPoint.CoordinatorReceived);
        if (_round is null || _excluded.Contains(Sender)) return; // before the first step, or from a node excluded a moment ago
        if (!_round.GaveTo(Sender) && !arrived.Known)
        {
            if (_namedStrangers.Count < MaxNamedStrangers && _namedStrangers.Add(Sender.Path.Address.ToString()))
                _s.Warn($"ignored a result from {Sender.Path.Address}: not a registered worker");
            return;
        }
        if (m.Step == _round.Step) _suspects.Remove(Sender); // it answers this step: alive, no longer under suspicion
        Act(Sender, m, _round.Offer(Sender, m, _clock.Elapsed));
        CompleteIfDone();
    }

    private void Act(IActorRef sender, SubtreeResult m, ResultDecision<T> decision)
    {
        switch (decision.Action)
        {
            case ResultAction.Exclude: Exclude(sender, decision.Reason!); break;
            case ResultAction.Verify when _verifier is null: Exclude(sender, decision.Reason!); break;
            case ResultAction.Verify: Verify(sender, m.Node, decision.Reason!, decision.Sent!); break;
            case ResultAction.Accepted when decision.BackupAt is TimeSpan at:
                var wait = at - _clock.Elapsed;
                Timers.StartSingleTimer("backup", new BackupTick(_round!.Step), wait > TimeSpan.Zero ? wait : TimeSpan.Zero);
                break;
        }
    }

    private void CompleteIfDone()
    {
        if (_round is not { IsComplete: true } || _replyTo is null) return;
        Timers.Cancel("deadline");
        Timers.Cancel("backup");
        if (!_round.WaitedForWorkers) _deadlines.Observe(_clock.Elapsed); // a wait for workers says nothing about step times
        _replyTo.Tell(new StepCompleted<T>(_round.Step, _round.Result, _roundLease!));
        _replyTo = null;
    }

    /// <summary>
    /// A worker sent a malformed result or one it was not asked for: it is told why, and the parent takes it out of
    /// the run (its node is refused from now on; its outstanding shards come back here as a lost worker's).
    /// </summary>
    private void Exclude(IActorRef worker, string reason)
    {
        if (!_excluded.Add(worker)) return;
        _s.Metrics?.ResultRefused();
        _s.Warn($"refused a result from worker {Name(worker)} ({worker.Path.Address}) and excluded it from the run: {reason}");
        worker.Tell(new Refused($"excluded from the run: {reason}"), Context.Parent);
        Context.Parent.Tell(new ExcludeWorker(worker, reason));
    }

    /// <summary>
    /// A suspect result — NaN or ±∞, or so large that the step's sum could overflow; honest when the parameters diverge,
    /// forged otherwise: the coordinator recomputes the subtree itself, off this thread, and the model gets the
    /// recomputed sum either way; the sender is excluded only when the recomputation differs from what it sent.
    /// </summary>
    private void Verify(IActorRef sender, Subtree node, string reason, ShardSum<T> sent)
    {
        var verifier = _verifier!;
        var parameters = _round!.Parameters.Clone(); // the step's snapshot is reused two steps on, and this may take longer
        long step = _round.Step;
        var initial = _round.Carry?.Initial.Clone() as T[]; // the step's buffers are reused by the next step
        verifier.RecomputeAsync(_round.Batch, node, parameters, initial)
            .PipeTo(Self, success: r => new Verified(step, node, sender, reason, sent, r, null), failure: e => new Verified(step, node, sender, reason, sent, null, e));
    }

    private void OnVerified(Verified v)
    {
        bool current = _round is not null && _round.Step == v.Step;
        if (v.Sum is null)
        {
            _s.Warn($"step {v.Step}: recomputing subtree {v.Node} failed ({v.Error?.GetBaseException().Message}); it is handed out again");
            if (current && Tree) { _round!.VerificationFailed(v.Node, handOut: false); Replan(); }
            else if (current) Send(_round!.VerificationFailed(v.Node));
            return;
        }
        var (lied, diverges) = current ? _round!.Verified(v.Node, v.Sent, v.Sum, v.Recomputed!.Value.States)
            : (RecomputeVerdict.SenderLied(v.Sent, v.Sum), RecomputeVerdict.IsNonFinite(v.Sum));
        if (lied) Exclude(v.Sender, $"{v.Reason}, but the same subtree recomputed here {(diverges ? "is not finite" : RecomputeVerdict.IsNonFinite(v.Sent) ? "is finite" : "differs")}");
        else if (current && diverges) _s.Info($"step {v.Step}: subtree {v.Node} is non-finite here too (the parameters diverge); the worker is not at fault");
        CompleteIfDone();
    }

    /// <summary>The others are long done: idle workers recompute what the slow ones still owe (first result wins).</summary>
    private void OnBackup(BackupTick t)
    {
        if (_round is null || _round.Step != t.Step) return;
        var (slow, backups) = _round.Backups();
        if (backups.Count == 0) return;
        foreach (var w in slow.Where(_namedSlow.Add))
            _s.Info($"step {_round.Step}: worker {Name(w)} is slow (still busy at {_backups.Multiplier:0.#}× the others' median time); idle workers recompute its shards as backups, the first result wins");
        Send(backups);
    }

    private void OnDeadline(DeadlineTick t)
    {
        if (_round is null || _round.Step != t.Step || _round.IsComplete) return;
        if (_round.Live.Count == 0 && _noWorkersFor?.Elapsed > _s.NoWorkerTimeout)
        {
            Fail($"no worker for {_noWorkersFor.Elapsed.TotalSeconds:F0} s at step {_round.Step}; giving up (a checkpoint lets you resume)");
            return;
        }
        var (again, note) = _round.DeadlinePassed(_clock.Elapsed, handOut: !Tree);
        if (note is not null) _s.Warn(note);
        if (Tree) Replan(); // a message may have been lost on the way: everything of the step travels again
        else Send(again);
        Timers.StartSingleTimer("deadline", new DeadlineTick(_round.Step), _round.Deadline);
    }

    /// <summary>A worker is gone (the parent's roster decided): its outstanding shards go to the others.</summary>
    private void OnLost(WorkerLost m)
    {
        if (_round is null) return;
        var (moved, note) = _round.WorkerLost(m.Worker);
        if (note is not null) _s.Warn(note);
        Send(moved);
        if (_round.Live.Count == 0 && !_round.IsComplete) _noWorkersFor ??= Stopwatch.StartNew();
    }

    /// <summary>
    /// A worker's data channel broke or stalled: a sign of trouble, not proof of death. What it owes of the step goes
    /// to the other workers at once as well (the first copy wins, the bits cannot change); its tensors go over Akka
    /// from now on, and whether it is lost stays Akka's call (reachability).
    /// </summary>
    private void OnChannelLost(WorkerChannelLost m)
    {
        if (_round is null) return;
        if (Tree)
        {
            // A plan waits for every member: while others remain, the worker sits out this step (its pieces move) and the
            // plans of the next SitOut (a dead one is out of the roster by then; it sends the coordinator nothing that
            // would show it alive, unlike a star worker's results).
            _sitsOutUntil[m.Worker] = _uptime.Elapsed + SitOut;
            if (_round.IsComplete || _round.Live.Count < 2 || !_round.Live.Contains(m.Worker)) return;
            var (moved, lostNote) = _round.WorkerLost(m.Worker);
            _s.Warn($"worker {Name(m.Worker)}: its data channel broke ({m.Why}); {lostNote ?? $"step {_round.Step} is planned without it"}");
            Send(moved);
            return;
        }
        _suspects.Add(m.Worker);
        var (again, note) = _round.ChannelLost(m.Worker, m.Why);
        _s.Warn(note);
        Send(again);
    }
}
