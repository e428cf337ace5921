using System.Diagnostics;
using System.Numerics;
using Akka.Actor;
using Akka.Cluster;
using DistRnn.Coordinator.Channel;
using DistRnn.Coordinator.Membership;
using DistRnn.Protocol;
using DistRnn.Transport;
using DistRnn.Transport.DataChannel;
using DistRnn.Util;

namespace DistRnn.Coordinator.Node;

/// <summary>
/// The coordinator (role coordinator), as a thin shell in the manner of Akka's split-brain resolver: who may join
/// is decided by a <see cref="RegistrationDesk{TWorker,TWaiter}"/>, who takes part by a
/// <see cref="WorkerRoster{TWorker,TWaiter}"/>; this actor turns messages and cluster events into calls on them and
/// their decisions into messages. The step in flight is its child <see cref="StepActor{T}"/>: results and the
/// training loop's requests go there, and so does every change of membership. A worker counts as lost when it
/// becomes unreachable, leaves, is removed or stops — not only on Terminated, which for a crashed node arrives only
/// after it is downed.
/// </summary>
public sealed class CoordinatorActor<T> : ReceiveActor, IWithTimers where T : unmanaged, IFloatingPointIeee754<T>
{
    private sealed record EndGraceOver;

    private readonly CoordinatorSettings _s;
    private readonly ClusterStatus _status;
    private readonly WorkerRoster<IActorRef, IActorRef> _roster;
    private readonly RegistrationDesk<IActorRef, IActorRef> _desk;
    /// <summary>Tensors to and from workers that connected to it (null: everything over Akka).</summary>
    private readonly DataChannelServer<IActorRef>? _channel;
    private readonly ChannelOffers<IActorRef> _offers = ChannelOffers<IActorRef>.Default;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private IActorRef _step = ActorRefs.Nobody;
    private IActorRef? _endReplyTo;
    private bool _endAnswered;
    /// <summary>Each registered worker's peer-link port (tree data plane), as its registration gave it.</summary>
    private readonly Dictionary<IActorRef, int> _peerPorts = new();

    public ITimerScheduler Timers { get; set; } = null!;

    public CoordinatorActor(CoordinatorSettings settings, ClusterStatus status, DataChannelServer<IActorRef>? channel = null)
    {
        _s = settings;
        _channel = channel;
        _status = status;
        _roster = new WorkerRoster<IActorRef, IActorRef>(w => w.Path.Address.ToString(), w => BanIdentity.Of(w.Path));
        _desk = new RegistrationDesk<IActorRef, IActorRef>(settings, _roster);

        Receive<JoinRequest>(m => Answer(_desk.Join(Sender, WorkerAddress(Sender), m)));
        Receive<Register>(OnRegister);
        Receive<RunStep<T>>(m => _step.Forward(new StepAsked<T>(m, _roster.Order.Select(w => (w, _roster.Name(w))).ToList())));
        Receive<SubtreeResult>(m => OnResult(m, null));
        // the tree data plane's root chunks (from the root's owner): the step actor checks them against its plan
        Receive<TreeSum>(m =>
        {
            if (_roster.BanOf(Sender) is not null) return;
            _step.Forward(m);
            if (_roster.IsRegistered(Sender)) OfferChannel(Sender, now: false); // its root came over Akka: a channel again, when due
        });
        // a result or root chunk that came over the data channel: the same path; the step actor gives its pooled frame back
        Receive<DataDelivery>(d =>
        {
            if (d.Message is SubtreeResult r) OnResult(r, d);
            else if (d.Message is TreeSum && _roster.BanOf(Sender) is null) _step.Forward(d);
            else d.Release();
        });
        Receive<DataChannelLost>(m =>
        {
            if (_roster.Ending || !_roster.IsRegistered(m.Worker)) return;
            _offers.Broke(m.Worker); // offered again when its tensors come over Akka (it answers: see OnResult)
            _step.Tell(new WorkerChannelLost(m.Worker, m.Why));
        });
        Receive<ExcludeWorker>(m => Gone(_roster.Exclude(m.Worker, m.Reason), "was excluded", graceful: false));
        Receive<WorkerLeaving>(m => Gone(_roster.Lose(Sender), $"left ({Printable.Of(m.Reason, Printable.LineLength)})", graceful: true));
        Receive<Terminated>(t => { if (!t.ActorRef.Equals(_step)) Gone(_roster.Lose(t.ActorRef), "stopped", graceful: false); });
        Receive<ClusterEvent.UnreachableMember>(m => GoneNode(m.Member.Address, "is unreachable", keepForReturn: true));
        Receive<ClusterEvent.ReachableMember>(m => Returned(m.Member.Address));
        Receive<ClusterEvent.MemberRemoved>(m => { GoneNode(m.Member.Address, "was removed from the cluster", keepForReturn: false); _roster.ForgetNode(m.Member.Address.ToString()); });
        Receive<ClusterEvent.MemberLeft>(m => GoneNode(m.Member.Address, "is leaving the cluster", keepForReturn: false));
        Receive<ClusterEvent.MemberExited>(m => GoneNode(m.Member.Address, "is leaving the cluster", keepForReturn: false));
        Receive<ClusterEvent.IMemberEvent>(_ => { });
        Receive<AwaitWorkers>(m => { _roster.Await(m.Minimum, Sender); AnswerWaiters(); });
        Receive<EndRun>(OnEndRun);
        Receive<EndGraceOver>(_ => ReplyEnd());
    }

    protected override void PreStart()
    {
        _step = Context.ActorOf(Props.Create(() => new StepActor<T>(_s, _channel)), "step");
        if (Context.System is ExtendedActorSystem { Provider: IClusterActorRefProvider })
            Akka.Cluster.Cluster.Get(Context.System).Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsEvents,
                typeof(ClusterEvent.IMemberEvent), typeof(ClusterEvent.IReachabilityEvent));
    }

    protected override void PostStop()
    {
        if (Context.System is ExtendedActorSystem { Provider: IClusterActorRefProvider })
            Akka.Cluster.Cluster.Get(Context.System).Unsubscribe(Self);
    }

    /// <summary>The address a message came from, as the proof must name it (this node's own for a sender in this actor system: tests with probes).</summary>
    private string WorkerAddress(IActorRef sender) =>
        (sender.Path.Address.HasGlobalScope ? sender.Path.Address : AkkaConfig.BoundAddress(Context.System)).ToString();

    private static string Workers(int n) => $"{n} worker{(n == 1 ? "" : "s")}";

    private DeskReply Answer(DeskReply r)
    {
        if (r.Warning is not null) _s.Warn(r.Warning);
        if (r.Reply is not null) Sender.Tell(r.Reply);
        return r;
    }

    private void OnRegister(Register m)
    {
        var decision = _desk.Register(Sender, WorkerAddress(Sender), m);
        if (decision.Added)
        {
            Context.Watch(Sender);
            Published(); // before the worker hears it is registered
        }
        if (!Answer(decision).Added) return;
        _s.Info($"worker {_roster.Name(Sender)} registered ({m.Threads} threads; {Workers(_roster.Count)})");
        OfferChannel(Sender, now: true);
        _peerPorts[Sender] = m.PeerPort is > 0 and <= 65535 ? m.PeerPort : 0;
        _step.Tell(new WorkerJoined(Sender, _roster.Name(Sender), PeerPort: _peerPorts[Sender])); // it may take work that waits for a worker
        AnswerWaiters();
    }

    private void AnswerWaiters()
    {
        foreach (var w in _roster.ReadyWaiters()) w.Tell(new WorkersReady(_roster.Count));
    }

    /// <summary>
    /// Nothing from an excluded node is used; the rest goes to the step, which checks everything else. A worker counted
    /// unreachable that still sends results takes part again at once (under suspicion until it answers a step, in case
    /// this was its last word); a registered one whose results come over Akka is offered its data channel again.
    /// </summary>
    private void OnResult(SubtreeResult m, DataDelivery? frame)
    {
        if (_roster.BanOf(Sender) is not null) { frame?.Release(); return; }
        _step.Forward(new ResultArrived(m, _roster.IsKnown(Sender), frame));
        if (_roster.Heard(Sender) is { } back) Back(back.Worker, back.Info, "answers again although the cluster counts it unreachable", suspect: true);
        else if (frame is null && _roster.IsRegistered(Sender)) OfferChannel(Sender, now: false);
    }

    /// <summary>
    /// A data channel for the worker's tensors, if it has none: a fresh ticket and an offer (the worker replaces a
    /// channel it still thinks open). <paramref name="now"/>: it registered or came back; otherwise only when
    /// <see cref="ChannelOffers{TWorker}"/> says another offer is due.
    /// </summary>
    private void OfferChannel(IActorRef worker, bool now)
    {
        if (_channel is null || _channel.HasConnection(worker)) return;
        if (now) _offers.OfferedNow(worker, _clock.Elapsed);
        else if (!_offers.Due(worker, _clock.Elapsed)) return;
        var ticket = _channel.Issue(worker, WorkerAddress(worker));
        worker.Tell(new DataChannelOffer(_s.RunId, _channel.Port, ticket.Id, ticket.Key));
    }

    private void GoneNode(Address address, string why, bool keepForReturn)
    {
        foreach (var gone in _roster.LoseNode(address.ToString(), keepForReturn)) Gone(gone, why, graceful: false);
    }

    /// <summary>A worker that was unreachable is reachable again: it takes part again (it is still registered on its side).</summary>
    private void Returned(Address address)
    {
        foreach (var (w, info) in _roster.NodeReturned(address.ToString())) Back(w, info, "is reachable again", suspect: false);
    }

    /// <summary>A worker counted unreachable takes part again, with a new data channel (its old one was dropped when it went).</summary>
    private void Back(IActorRef worker, WorkerInfo info, string how, bool suspect)
    {
        Context.Watch(worker);
        Published();
        _s.Info($"worker {info.Node} {how} ({Workers(_roster.Count)})");
        OfferChannel(worker, now: true);
        _step.Tell(new WorkerJoined(worker, info.Node, suspect, _peerPorts.GetValueOrDefault(worker)));
        AnswerWaiters();
    }

    /// <summary>Acts on the roster's decision that a worker is gone: its outstanding shards go to the others.</summary>
    private void Gone(WorkerGone<IActorRef>? gone, string why, bool graceful)
    {
        if (gone is null) return;
        _channel?.Forget(gone.Worker);
        _offers.Forget(gone.Worker);
        _peerPorts.Remove(gone.Worker);
        Context.Unwatch(gone.Worker);
        Published();
        if (gone.DuringEnd)
        {
            if (gone.AllLeftAtEnd) ReplyEnd();
            return;
        }
        _s.Metrics?.WorkerGone(graceful);
        var note = $"worker {gone.Info.Node} {why}; {Workers(gone.Remaining)} left";
        if (graceful) _s.Info(note); else _s.Warn(note);
        _step.Tell(new WorkerLost(gone.Worker));
    }

    private void Published() => _status.SetWorkers(_roster.Count);

    private void OnEndRun(EndRun m)
    {
        _endReplyTo = Sender;
        _roster.BeginEnd();
        _step.Tell(new StepAborted("the run ended"));
        foreach (var w in _roster.Order) w.Tell(new RunEnded(m.Completed, m.Reason), Self);
        if (_roster.Count == 0) ReplyEnd();
        else Timers.StartSingleTimer("end", new EndGraceOver(), _s.EndGrace);
    }

    private void ReplyEnd()
    {
        if (_endReplyTo is null || _endAnswered) return;
        _endAnswered = true; // the roster stays Ending: the run is over, new registrations are refused
        Timers.Cancel("end");
        _endReplyTo.Tell(new RunEndAcknowledged(_roster.LeftAtEnd));
    }
}
