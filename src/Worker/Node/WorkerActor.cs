using System.Text.Json;
using Akka.Actor;
using Akka.Cluster;
using DistRnn.Configuration;
using DistRnn.Data;
using DistRnn.Model;
using DistRnn.Protocol;
using DistRnn.Reduction;
using DistRnn.Security;
using DistRnn.Transport;
using DistRnn.Transport.DataChannel;
using DistRnn.Worker.Channel;
using DistRnn.Worker.Compute;
using DistRnn.Worker.Security;

namespace DistRnn.Worker.Node;

/// <summary>
/// A worker (role worker): finds the coordinator among the cluster's members, proves its corpus and
/// configuration, then computes the subtrees it is sent. The maths runs on dedicated threads
/// (<see cref="IWorkerCompute"/>), its results go straight to the coordinator as each subtree is done,
/// and completion comes back here with PipeTo. A job for a newer step cancels an older one.
/// </summary>
public sealed class WorkerActor : ReceiveActor, IWithTimers
{
    private sealed record RetryJoin;
    private sealed record JobDone(long Step, Exception? Error);
    private sealed record TreeJobDone(long Step, Exception? Error);
    /// <summary>A piece computed for the tree data plane, its gradient already copied off the engine's buffer.</summary>
    private sealed record TreePiece(SubtreeResult Piece) : INoSerializationVerificationNeeded;
    // Generation: which offer the event belongs to (a newer offer replaces an older channel, whose events are then ignored).
    private sealed record ChannelOpened(int Generation, DataConnection Connection) : INoSerializationVerificationNeeded;
    private sealed record ChannelClosed(int Generation, string Why) : INoSerializationVerificationNeeded;
    private sealed record ChannelFailed(int Generation, string Why) : INoSerializationVerificationNeeded;
    /// <summary>A tree chunk that came over a peer link (from another worker, never the coordinator's word).</summary>
    private sealed record PeerDelivery(DataDelivery Delivery) : INoSerializationVerificationNeeded;
    private sealed record PeerLinkClosed(string Endpoint, string Why) : INoSerializationVerificationNeeded;
    private sealed record PeerNote(string Message) : INoSerializationVerificationNeeded;

    private readonly WorkerSettings _s;
    private readonly Action<WorkerEvent> _notify;
    private readonly WorkerCredentials _credentials;
    private ActorSelection? _coordinatorSelection;
    private Address? _coordinatorAddress;
    private IActorRef? _coordinator;
    private string? _runId;
    private IWorkerCompute? _compute;
    private bool _registered;
    private readonly JobQueue<(ComputeSubtrees Job, DataDelivery? Frame)> _jobs = new(j => j.Job.Step);
    /// <summary>The data channel to the coordinator (Cluster/DataChannel), once open; null: tensors over Akka.</summary>
    private DataConnection? _channel;
    /// <summary>The latest data-channel offer's number: events of an earlier offer's connection are stale.</summary>
    private int _channelGeneration;
    private int _wireValues;
    private CancellationTokenSource? _running;
    /// <summary>The tree data plane's relay for the run (docs/data-plane.md), and the step its compute jobs belong to.</summary>
    private ITreeRelay<IActorRef>? _relay;
    private CancellationTokenSource? _treeRunning;
    private long _treeRunningStep = -1;
    /// <summary>Data connections to and from the other workers for the tree's chunks (null: none, all over Akka), and the latest plan's endpoints.</summary>
    private PeerLinks? _links;
    private readonly Dictionary<IActorRef, string> _peerEndpoints = new();
    /// <summary>The pinned coordinators that are up, and which of them this worker follows (the oldest: where the run is).</summary>
    private readonly CoordinatorChoice<Member, Address> _choice = new(m => m.Address, (a, b) => a.IsOlderThan(b));
    /// <summary>How often a join request is repeated until registered: more often once following a standby, which starts coordinating within moments.</summary>
    private TimeSpan _joinEvery = TimeSpan.FromSeconds(3);

    public ITimerScheduler Timers { get; set; } = null!;

    public WorkerActor(WorkerSettings settings, Action<WorkerEvent> notify)
    {
        _s = settings;
        _notify = notify;
        _credentials = new WorkerCredentials(settings.Secret, settings.Tls);

        // only a coordinator at --join: another member claiming the role is ignored (it may hold a worker's certificate)
        Receive<ClusterEvent.MemberUp>(m =>
        {
            if (m.Member.HasRole(AkkaConfig.CoordinatorRole) && _s.Pin.Matches(m.Member.Address) && _choice.Up(m.Member) && !_registered)
                FoundCoordinator(_choice.Current!);
        });
        Receive<ClusterEvent.MemberRemoved>(m => PinnedGone(m.Member.Address));
        Receive<ClusterEvent.MemberExited>(m => PinnedGone(m.Member.Address));
        Receive<ClusterEvent.UnreachableMember>(m =>
        {
            if (m.Member.Address == _coordinatorAddress) _notify(new WorkerEvent.Note("the coordinator is unreachable; waiting for it"));
        });
        Receive<ClusterEvent.IClusterDomainEvent>(_ => { });
        Receive<RetryJoin>(_ => SendJoin());
        // Whatever steers this worker must come from the coordinator's node: another member (or a stranger on
        // the port) cannot end its run, refuse it, or hand it work whose results would go elsewhere.
        Receive<RunSpec>(m => { if (FromCoordinator()) OnRunSpec(m); });
        Receive<Registered>(m =>
        {
            if (m.RunId != _runId || _registered || !FromCoordinator()) return;
            _registered = true;
            Timers.Cancel("join");
            _notify(new WorkerEvent.Registered(m.Workers));
        });
        Receive<Refused>(m => { if (!FromCoordinator()) return; Timers.Cancel("join"); _notify(new WorkerEvent.Refused(m.Reason)); });
        Receive<ComputeSubtrees>(m => { if (FromCoordinator()) OnCompute(m, null); });
        Receive<DataChannelOffer>(m => { if (FromCoordinator()) OnChannelOffer(m); });
        Receive<ChannelOpened>(m =>
        {
            if (m.Generation != _channelGeneration || _channel is not null || !_registered) { m.Connection.Dispose(); return; }
            _channel = m.Connection;
            _channel.Start(); // parameters it carries arrive after this: their results take the channel too
            if (_channel.SignsFrames) _notify(new WorkerEvent.Note("data channel to the coordinator: every frame signed (HMAC-SHA256, keys from the run's secret)"));
        });
        Receive<ChannelFailed>(m =>
        {
            if (m.Generation == _channelGeneration) _notify(new WorkerEvent.Note($"no data channel to the coordinator ({m.Why}); tensors go over Akka"));
        });
        Receive<ChannelClosed>(m =>
        {
            if (m.Generation != _channelGeneration || _channel is null) return;
            _channel = null;
            _notify(new WorkerEvent.Note($"the data channel to the coordinator closed ({m.Why}); tensors go over Akka"));
        });
        // parameters that came over the data channel (its reader tells them in the coordinator's name)
        Receive<DataDelivery>(d =>
        {
            if (!FromCoordinator()) { d.Release(); return; }
            switch (d.Message)
            {
                case ComputeSubtrees c: OnCompute(c, d); break;
                case TreeStep t: t = t with { States = t.States?.Detached() }; d.Release(); OnTreeStep(t); break; // its states: off the frame
                case TreeParameters p: try { Relay(r => r.Parameters(p)); } finally { d.Release(); } break; // the relay copies them
                default: d.Release(); break;
            }
        });
        // tree chunks from another worker's peer link: as from Akka (the relay checks run, step, epoch and shape)
        Receive<PeerDelivery>(m =>
        {
            var d = m.Delivery;
            try
            {
                if (d.Message is TreeParameters p) Relay(r => r.Parameters(p));
                else if (d.Message is TreeSum s) Relay(r => r.Sum(s with { Values = s.Values.Detached(), States = s.States?.Detached() })); // one of a newer epoch waits: off the frame
            }
            finally { d.Release(); }
        });
        Receive<PeerLinkClosed>(m =>
        {
            foreach (var (peer, endpoint) in _peerEndpoints)
                if (endpoint == m.Endpoint) Relay(r => r.Again(peer)); // what was queued on it may be lost: again, over Akka
        });
        Receive<PeerNote>(m => _notify(new WorkerEvent.Note(m.Message)));
        Receive<JobDone>(OnJobDone);
        // The tree data plane: the plan comes from the coordinator; parameters and sums from it or from other workers
        // of the run (every member proved the run's secret on connecting); the relay checks run, step, epoch and shape.
        Receive<TreeStep>(m => { if (FromCoordinator()) OnTreeStep(m); });
        Receive<TreeParameters>(m => Relay(r => r.Parameters(m)));
        Receive<TreeSum>(m => Relay(r => r.Sum(m)));
        Receive<TreePiece>(m => Relay(r => r.PieceComputed(m.Piece)));
        Receive<TreeJobDone>(m =>
        {
            if (m.Error is not null and not TaskCanceledException and not OperationCanceledException)
                _notify(new WorkerEvent.Note($"step {m.Step}: computing failed: {m.Error.GetBaseException().Message}"));
        });
        Receive<RunEnded>(m =>
        {
            if (!FromCoordinator()) return;
            Cancel();
            CloseChannel();
            _coordinator?.Tell(new WorkerLeaving(m.Completed ? "run ended" : "run stopped"), Self);
            _notify(new WorkerEvent.RunEnded(m.Completed, m.Reason));
        });
        Receive<LeaveRun>(m =>
        {
            Cancel();
            _coordinator?.Tell(new WorkerLeaving(m.Reason), Self);
            Sender.Tell(Left.Instance);
        });
    }

    protected override void PreStart()
    {
        Akka.Cluster.Cluster.Get(Context.System).Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsEvents,
            typeof(ClusterEvent.IMemberEvent), typeof(ClusterEvent.IReachabilityEvent));
        var self = Self;
        try
        {
            _links = new PeerLinks(AkkaConfig.BoundAddress(Context.System).Host ?? "127.0.0.1", new NodeSecurity(_s.Secret, _s.Tls),
                deliver: d => self.Tell(new PeerDelivery(d)), closed: (endpoint, why) => self.Tell(new PeerLinkClosed(endpoint, why)),
                note: line => self.Tell(new PeerNote(line)), traffic: _s.Metrics?.Traffic);
        }
        catch (System.Net.Sockets.SocketException e)
        {
            _notify(new WorkerEvent.Note($"no peer links ({e.Message}); the tree's chunks between workers go over Akka"));
        }
    }

    protected override void PostStop()
    {
        Akka.Cluster.Cluster.Get(Context.System).Unsubscribe(Self);
        Cancel();
        CloseChannel();
        _links?.Dispose();
        _compute?.Dispose();
    }

    /// <summary>The coordinator's plan for an epoch of a step: the workers' actors as this node resolves them, and this one among them.</summary>
    private void OnTreeStep(TreeStep m)
    {
        if (m.RunId != _runId || _relay is null || _coordinatorAddress is null) return;
        _coordinator = Sender;
        var provider = ((ExtendedActorSystem)Context.System).Provider;
        RelayPlan<IActorRef> plan;
        IActorRef[] workers;
        try
        {
            workers = m.Workers.Select(provider.ResolveActorRef).ToArray();
            plan = RelayPlan<IActorRef>.For(workers.Select((w, i) => (w, (IReadOnlyList<Subtree>)m.Pieces[i])), Subtree.Root(_relay.ShardCount), m.Epoch);
        }
        catch (Exception e) when (e is ArgumentException or FormatException or UriFormatException)
        {
            _notify(new WorkerEvent.Note($"step {m.Step}: ignored a malformed tree plan ({e.Message})"));
            return;
        }
        _peerEndpoints.Clear();
        if (m.Peers is { Length: > 0 } peers)
            for (int i = 0; i < workers.Length; i++) _peerEndpoints[workers[i]] = peers[i];
        if (m.PeerTicketId is { } id && m.PeerTicketKey is { } key) _links?.UseTicket(new DataTicket(id, key));
        Relay(r => r.Plan(m.Step, plan, workers[m.You], m.States));
    }

    /// <summary>A tree chunk to another worker: over the peer link to it when one is open, else over Akka.</summary>
    private void SendPeer(IActorRef to, object message)
    {
        if (_links is null || !_peerEndpoints.TryGetValue(to, out var endpoint) || !_links.TrySend(endpoint, message)) to.Tell(message, Self);
    }

    /// <summary>Carries out what the relay decided: sums and parameter chunks to their receivers, pieces to compute.</summary>
    private void Relay(Func<ITreeRelay<IActorRef>, RelayOut<IActorRef>> act)
    {
        if (_relay is null || _compute is null) return;
        var o = act(_relay);
        if (_relay.Step > _treeRunningStep) { _treeRunning?.Cancel(); _treeRunning = null; } // a newer step: the old one's work is obsolete
        foreach (var (to, toCoordinator, sum) in o.Sums)
        {
            if (!toCoordinator) SendPeer(to!, sum);
            else if (_channel is null || !_channel.TrySend(sum)) _coordinator?.Tell(sum, Self); // the root: over the data channel, else Akka
        }
        foreach (var (to, chunk) in o.Parameters) SendPeer(to, chunk);
        if (o.Compute is not { } job) return;
        if (_treeRunning is null) { _treeRunning = new CancellationTokenSource(); _treeRunningStep = job.Step; }
        var self = Self;
        var relay = _relay;
        _compute.RunAsync(job, piece => self.Tell(new TreePiece(relay.Detach(piece))), _treeRunning.Token)
            .PipeTo(Self, success: () => new TreeJobDone(job.Step, null), failure: e => new TreeJobDone(job.Step, e));
    }

    private void CloseChannel()
    {
        var c = _channel;
        _channel = null;
        c?.Dispose();
    }

    /// <summary>
    /// The coordinator offers a data channel for this worker's tensors: connect (bounded by the handshake timeout)
    /// off the actor's thread; if that fails, say so and go on over Akka. The coordinator offers only when it has no
    /// channel for this worker (first, after a break, after a heal), so a new offer replaces the channel this side may
    /// still think open (its peer is gone) and any connection still being made.
    /// </summary>
    private void OnChannelOffer(DataChannelOffer m)
    {
        if (!_registered || m.RunId != _runId || _compute is null || _coordinatorAddress?.Host is not string host) return;
        CloseChannel();
        int generation = ++_channelGeneration;
        var self = Self;
        var coordinator = _coordinator!;
        var ticket = new DataTicket(m.TicketId ?? [], m.TicketKey ?? []);
        var limits = DataChannelSwitch.Limits(_wireValues);
        var security = new NodeSecurity(_s.Secret, _s.Tls);
        DataChannelClient.ConnectAsync(host, m.Port, ticket, AkkaConfig.BoundAddress(Context.System).ToString(), limits, security,
                deliver: d => self.Tell(d, coordinator),
                closed: why => self.Tell(new ChannelClosed(generation, why)), traffic: _s.Metrics?.Traffic)
            .PipeTo(self, success: c => new ChannelOpened(generation, c),
                failure: e => new ChannelFailed(generation, e.GetBaseException().Message));
    }

    /// <summary>The current message comes from the node this worker joined as its coordinator.</summary>
    private bool FromCoordinator() => _coordinatorAddress is not null && Sender.Path.Address == _coordinatorAddress;

    private void FoundCoordinator(Address address)
    {
        if (_coordinatorAddress == address) return;
        _coordinatorAddress = address;
        _coordinatorSelection = Context.ActorSelection(new RootActorPath(address) / "user" / AkkaConfig.CoordinatorActorName);
        SendJoin();
    }

    private void SendJoin()
    {
        if (_registered || _coordinatorSelection is null) return;
        _coordinatorSelection.Tell(new JoinRequest(ProtocolInfo.Version, _s.Node, _s.Threads, _credentials.Nonce), Self);
        Timers.StartSingleTimer("join", new RetryJoin(), _joinEvery);
    }

    // ── Failover (docs/failover.md) ───────────────────────────────────────────────────────────────────────────────
    /// <summary>
    /// A pinned coordinator left. When it was the one followed and a standby of it is up, the standby takes the run
    /// over (the cluster singleton moves to it): drop this run's work and channel and register with it (the same run
    /// id) without starting over; with none left the node starts over, as with a single coordinator.
    /// </summary>
    private void PinnedGone(Address address)
    {
        bool changed = _choice.Gone(address);
        if (address != _coordinatorAddress) return;
        if (!changed || _choice.Current is not Address next)
        {
            CoordinatorGone(address, "the coordinator left the cluster");
            return;
        }
        Cancel();
        CloseChannel();
        Timers.Cancel("join");
        _registered = false;
        _runId = null;
        _joinEvery = TimeSpan.FromMilliseconds(500);
        _notify(new WorkerEvent.Note($"the coordinator at {address.HostPort()} left the cluster; following the standby at {next.HostPort()}, which takes the run over"));
        FoundCoordinator(next);
    }
    // ──────────────────────────────────────────────────────────────────────────────────────────────────────────────────

    private void CoordinatorGone(Address address, string why)
    {
        if (address != _coordinatorAddress) return;
        Cancel();
        CloseChannel();
        _notify(new WorkerEvent.CoordinatorLost(why));
    }

    private void OnRunSpec(RunSpec m)
    {
        if (_registered) return;
        _coordinator = Sender;
        _runId = m.RunId;
        _compute?.Dispose();
        var enrolled = Enrolment.Enrol(m, _s, _credentials, AkkaConfig.BoundAddress(Context.System).ToString());
        _compute = enrolled.Compute;
        _relay = enrolled.Relay;
        _wireValues = enrolled.WireValues;
        _links?.Configure(DataChannelSwitch.Limits(_wireValues));
        // this node's frames were sized before it knew the model: a larger one needs a node with larger frames
        if (enrolled.Refusal is null && enrolled.WireValues > _s.FrameValues)
        {
            _compute?.Dispose();
            _compute = null;
            Timers.Cancel("join");
            _notify(new WorkerEvent.NeedsLargerFrames(enrolled.WireValues));
            return;
        }
        Sender.Tell(enrolled.Register with { PeerPort = _links?.Port ?? 0 });
        // A coordinator that cannot prove the secret gets no work from this worker (it still got the registration
        // above, so the real coordinator, if this is one with another secret, logs the refusal).
        if (enrolled.Refusal is not null)
        {
            Timers.Cancel("join");
            _notify(new WorkerEvent.Refused(enrolled.Refusal));
        }
    }

    /// <param name="frame">the pooled frame the parameters are in (data channel), released once the job has copied them</param>
    private void OnCompute(ComputeSubtrees m, DataDelivery? frame)
    {
        Diagnostics.StepTimeline.Mark(m.Step, Diagnostics.StepPoint.WorkerReceived);
        if (m.RunId != _runId || _compute is null) { frame?.Release(); return; } // another run's
        var offer = _jobs.Offer((m, frame));
        if (!offer.Accepted) { frame?.Release(); return; } // an old step's
        _coordinator = Sender;
        foreach (var old in offer.Dropped) old.Frame?.Release();
        if (offer.CancelRunning) Cancel();
        StartNext();
    }

    private void StartNext()
    {
        if (!_jobs.TryNext(out var next)) return;
        var (job, frame) = next;
        var cts = new CancellationTokenSource();
        _running = cts;
        var compute = _compute!;
        var coordinator = _coordinator!;
        var self = Self;
        var channel = _channel;
        // results over the data channel when it is open, over Akka otherwise (or when it closed meanwhile)
        void Emit(SubtreeResult r) { Diagnostics.StepTimeline.Mark(r.Step, Diagnostics.StepPoint.ResultSent); if (channel is null || !channel.TrySend(r)) coordinator.Tell(r, self); }
        // the job copies the parameters first thing; the frame they came in goes back to its pool when the job ends
        var run = compute.RunAsync(job, Emit, cts.Token);
        if (frame is not null) run.ContinueWith(_ => frame.Release(), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        run.PipeTo(Self, success: () => new JobDone(job.Step, null), failure: e => new JobDone(job.Step, e));
    }

    private void OnJobDone(JobDone m)
    {
        if (m.Error is not null and not TaskCanceledException and not OperationCanceledException)
            _notify(new WorkerEvent.Note($"step {m.Step}: computing failed: {m.Error.GetBaseException().Message}"));
        _running?.Dispose();
        _running = null;
        _jobs.Done();
        StartNext();
    }

    private void Cancel()
    {
        _running?.Cancel();
        _treeRunning?.Cancel();
        _treeRunning = null;
    }
}
