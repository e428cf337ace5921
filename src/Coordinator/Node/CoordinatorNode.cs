using System.Diagnostics;
using System.Net.Sockets;
using System.Numerics;
using Akka.Actor;
using DistRnn.Coordinator.Channel;
using DistRnn.Model;
using DistRnn.Security;
using DistRnn.Transport;
using DistRnn.Transport.Bootstrap;
using DistRnn.Util;
using DistRnn.Transport.DataChannel;

namespace DistRnn.Coordinator.Node;

/// <summary>
/// The coordinator's actor system: binds HOST:PORT (port 0 = any), forms the cluster as its first member (or, as a
/// standby, joins the active coordinator's: docs/failover.md), and runs the <see cref="CoordinatorActor{T}"/> once it
/// coordinates. The training loop talks to it through <see cref="Source"/>. With failover on (a coordinator that
/// listens) it also takes part in the election of the active coordinator (<see cref="Leadership"/>) and runs the
/// active's end of the replication stream.
/// </summary>
public sealed class CoordinatorNode<T> : IAsyncDisposable where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly ClusterStatus _status = new();
    private readonly string _host;
    private readonly NodeSecurity _security;
    private readonly bool _failover;
    private IActorRef? _actor;
    private ClusterGradientSource<T>? _source;
    private DataChannelServer<IActorRef>? _channel;

    /// <summary>Akka.Management's endpoint with --discovery.</summary>
    private readonly ManagementEndpoint? _management;

    private CoordinatorNode(ActorSystem system, CoordinatorSettings settings, string host, NodeSecurity security, IReadOnlyList<Address>? standbyOf, bool failover, ManagementEndpoint? management)
    {
        System = system;
        _host = host;
        _security = security;
        _failover = failover || standbyOf is not null;
        Address = AkkaConfig.BoundAddress(system);
        if (standbyOf is null) Activate(settings);
        _management = management;
        var cluster = Akka.Cluster.Cluster.Get(system);
        // through Cluster Bootstrap when asked (a standby too), else as the first member, or a standby at its coordinators'
        if (management is not null) management.BootstrapAsync(system).GetAwaiter().GetResult();
        else if (standbyOf is null) cluster.Join(Address);
        else cluster.JoinSeedNodes(standbyOf);
        if (_failover) Leadership = Failover.Leadership.Start(system);
    }

    public ActorSystem System { get; }
    public Address Address { get; }
    public ClusterGradientSource<T> Source => _source ?? throw new InvalidOperationException("this coordinator does not coordinate (yet)");
    public int Workers => _status.Workers;
    public IActorRef Actor => _actor ?? throw new InvalidOperationException("this coordinator does not coordinate (yet)");
    /// <summary>The data channel's listener (null when off or it could not listen).</summary>
    public DataChannelServer<IActorRef>? Channel => _channel;
    /// <summary>Completes when this node holds the run (the cluster singleton); null without failover.</summary>
    public Task? Leadership { get; }
    /// <summary>The active's end of the replication stream (null without failover or before this node coordinates).</summary>
    public IActorRef? Replication { get; private set; }
    public Failover.ReplicationStatus ReplicationStatus { get; } = new();

    /// <summary>Starts coordinating: the data channel, the coordinator actor and, with failover, the replication stream's end.</summary>
    public void Activate(CoordinatorSettings settings)
    {
        if (_actor is not null) return;
        _channel = StartDataChannel(settings, _host, _security, () => _actor!);
        var channel = _channel;
        _actor = System.ActorOf(Props.Create(() => new CoordinatorActor<T>(settings, _status, channel)), AkkaConfig.CoordinatorActorName);
        _source = new ClusterGradientSource<T>(_actor, _status);
        if (!_failover) return;
        int partBytes = settings.Config.ShapeFor(settings.VocabSize).Count * sizeof(double);
        var status = ReplicationStatus;
        Replication = System.ActorOf(Props.Create(() => new Failover.ReplicationActor(status, partBytes, settings.Info, settings.Warn)), AkkaConfig.ReplicationActorName);
    }

    /// <summary>
    /// As a standby: follows whichever of the coordinators at <paramref name="coordinators"/> holds the run (the oldest
    /// up); the task completes with the run's state.
    /// </summary>
    public (IActorRef Replica, Task<Failover.ReplicaSnapshot> Snapshot) Follow(IReadOnlyList<Address> coordinators, Action<string> info, Action<string> warn)
    {
        var snapshot = new TaskCompletionSource<Failover.ReplicaSnapshot>(TaskCreationOptions.RunContinuationsAsynchronously);
        var node = Address.HostPort();
        var self = Address;
        var replica = System.ActorOf(Props.Create(() => new Failover.ReplicaActor(coordinators, self, node, snapshot, info, warn)), AkkaConfig.ReplicaActorName);
        return (replica, snapshot.Task);
    }

    /// <summary>Throws <see cref="InputException"/> when one message of this model would not fit a frame.</summary>
    public static void CheckFits(ModelShape shape)
    {
        long bytes = (long)shape.Count * Protocol.TensorPayload.PrecisionBytes<T>() + AkkaConfig.FrameOverheadBytes;
        if (bytes > AkkaConfig.MaxFrameBytes)
            throw new InputException($"--hidden {shape.Hidden}: one {typeof(T).Name} parameter message ({bytes / 1048576.0:F0} MiB) exceeds the cluster's frame limit of {AkkaConfig.MaxFrameBytes / 1048576} MiB; use a smaller model or --workers 0");
    }

    /// <summary>Lines per minute, at most, about connections the secret's handshake refused.</summary>
    public const int RefusalsPerMinute = 20;

    /// <param name="security">TLS for the transport (the shared secret travels in <paramref name="settings"/>); null = plain TCP</param>
    /// <param name="standbyOf">a standby's --standby addresses: join those coordinators' cluster and wait to take its run over</param>
    /// <param name="failover">take part in the election of the active coordinator (a coordinator that listens)</param>
    /// <param name="discovery">Cluster Bootstrap (<c>--discovery</c>); null: this node forms the cluster as its first member (or a standby joins its active)</param>
    public static CoordinatorNode<T> Start(CoordinatorSettings settings, string host, int port, bool verbose, NodeSecurity? security = null,
        IReadOnlyList<Address>? standbyOf = null, bool failover = false, ClusterDiscovery? discovery = null)
    {
        var shape = settings.Config.ShapeFor(settings.VocabSize);
        CheckFits(shape);
        ActorSystem system;
        var config = AkkaConfig.Node(AkkaConfig.CoordinatorRole, host, port, verbose, extra: string.Join('\n', new[] { AkkaConfig.TensorLimit(settings.Config.WireValues(settings.VocabSize)), discovery?.Hocon() }.Where(x => x is not null)));
        // a flood of strangers at the port costs a few lines: the rate limit of the registration desk's refusals
        var refusals = new LineRateLimit(RefusalsPerMinute, TimeSpan.FromMinutes(1));
        void Refused(TransportRefusal why)
        {
            string? line;
            lock (refusals) line = refusals.Pass(Printable.Of($"refused a connection: {why}", Printable.LineLength));
            if (line is not null) settings.Warn(line);
        }
        try { system = (security ?? NodeSecurity.None).CreateSystem(AkkaConfig.SystemName, config, Refused); }
        catch (Exception e) when (port != 0 && e.GetBaseException() is SocketException or Akka.Remote.RemoteTransportException)
        {
            throw new InputException($"--listen {host}:{port}: cannot listen there ({e.GetBaseException().Message})");
        }
        ManagementEndpoint? management;
        try { management = discovery?.ServeAsync().GetAwaiter().GetResult(); } // a management port it cannot bind is an error at start
        catch (InputException)
        {
            system.Terminate().Wait(TimeSpan.FromSeconds(10));
            throw;
        }
        return new CoordinatorNode<T>(system, settings, host, security ?? NodeSecurity.None, standbyOf, failover, management);
    }

    /// <summary>
    /// The listener of the data channel (Cluster/DataChannel) on the coordinator's host, any free port; null (and
    /// one line in the log) when it cannot listen or is switched off: then every tensor goes over Akka.
    /// </summary>
    private static DataChannelServer<IActorRef>? StartDataChannel(CoordinatorSettings settings, string host, NodeSecurity security, Func<IActorRef> actor)
    {
        if (DataChannelSwitch.Read() == DataChannelMode.Off) return null; // DISTRNN_DATA_CHANNEL=off: every tensor over Akka
        try
        {
            var bind = ListenAddresses.Of(host);
            var limits = DataChannelSwitch.Limits(settings.Config.WireValues(settings.VocabSize));
            var server = new DataChannelServer<IActorRef>(bind, limits, security,
                deliver: (worker, d) => actor().Tell(d, worker),
                lost: (worker, why) => actor().Tell(new DataChannelLost(worker, why)),
                log: settings.Warn, traffic: settings.Metrics?.Traffic);
            // its port is any free one: say which (a firewall between the nodes must let it through)
            settings.Info($"data channel: listening on {string.Join(", ", server.Endpoints)}");
            return server;
        }
        catch (SocketException e)
        {
            settings.Warn($"data channel: cannot listen on {host} ({e.Message}); tensors go over Akka");
            return null;
        }
    }

    /// <summary>Waits until <paramref name="minimum"/> workers are registered; <paramref name="progress"/> hears every few seconds how many there are.</summary>
    /// <param name="remote">whether workers are expected from elsewhere (the message then says where they join)</param>
    public async Task<int> WaitForWorkersAsync(int minimum, TimeSpan timeout, Action<string> progress, CancellationToken ct, bool remote = true)
    {
        string hint = remote ? $" (workers join with --join {Address.Host}:{Address.Port})" : "";
        var ready = Actor.Ask<WorkersReady>(new AwaitWorkers(minimum), null, ct);
        var clock = Stopwatch.StartNew();
        var sincePrint = Stopwatch.StartNew();
        int printed = -1;
        while (!ready.IsCompleted)
        {
            if (clock.Elapsed >= timeout)
                throw new ClusterException($"only {_status.Workers} of {minimum} workers registered within {timeout.TotalSeconds:F0} s (--wait-timeout); start workers with --join {Address.Host}:{Address.Port}");
            if (_status.Workers != printed || sincePrint.Elapsed > TimeSpan.FromSeconds(10))
            {
                printed = _status.Workers;
                sincePrint.Restart();
                progress($"waiting for workers: {printed} of {minimum} registered{hint}");
            }
            await Task.WhenAny(ready, Task.Delay(250, ct)).ConfigureAwait(false);
            ct.ThrowIfCancellationRequested();
        }
        return (await ready.ConfigureAwait(false)).Workers;
    }

    /// <summary>Tells every worker the run is over and waits (briefly) until they left.</summary>
    public async Task EndRunAsync(bool completed, string reason)
    {
        if (_actor is null) return; // a standby that never coordinated has no workers to tell
        try { await _actor.Ask<RunEndAcknowledged>(new EndRun(completed, reason), TimeSpan.FromSeconds(15)).ConfigureAwait(false); }
        catch (Exception) { /* shutting down anyway */ }
    }

    public async ValueTask DisposeAsync()
    {
        _channel?.Dispose();
        // A member that is unreachable now (a killed worker not yet downed) would keep the cluster from converging on
        // this node's leaving for the whole phase timeout: the run is over, so down it first.
        var cluster = Akka.Cluster.Cluster.Get(System);
        foreach (var member in cluster.State.Unreachable) cluster.Down(member.Address);
        var leave = CoordinatedShutdown.Get(System).Run(CoordinatedShutdown.ClusterLeavingReason.Instance);
        await Task.WhenAny(leave, Task.Delay(TimeSpan.FromSeconds(10))).ConfigureAwait(false);
        await System.Terminate().WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        if (_management is not null) await _management.DisposeAsync().ConfigureAwait(false);
    }
}
