using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using Akka.Actor;
using DistRnn.Configuration;
using DistRnn.Coordinator.Node;
using DistRnn.Coordinator.Training;
using DistRnn.Coordinator.Verification;
using DistRnn.Data;
using DistRnn.Model;
using DistRnn.Protocol;
using DistRnn.Reduction;
using DistRnn.Security;
using DistRnn.Tests.Cluster;
using DistRnn.Transport;
using DistRnn.Worker.Node;

namespace DistRnn.Tests.Security;

/// <summary>
/// The issue's checks on real in-process clusters (coordinator and workers each their own actor system on
/// 127.0.0.1, serialize-messages on): a worker with the wrong secret is refused, exits non-zero saying why,
/// and the run's params_sha256 equals the run without it; a mutual-TLS cluster trains to the same bits and a
/// node with another CA's certificate never registers; rogue workers speaking the protocol with wrong shapes
/// and NaN are excluded and the result is unchanged.
/// </summary>
public sealed class SecureClusterTests
{
    private static readonly TrainConfig Small = new() { Hidden = 16, Seq = 12, Batch = 8, Shards = 8, Steps = 3, Seed = 5, Lr = 0.01 };
    private readonly Corpus _corpus = TestUtil.CorpusOf(TestUtil.SmallText());

    private static SharedSecret Secret(string text) => SharedSecret.FromBytes(Encoding.UTF8.GetBytes(text));

    private async Task<string> Baseline() => await ClusterTraining.TrainAsync<float>(Small, _corpus, 0, new ConcurrentQueue<string>());

    /// <summary>
    /// Waits for <paramref name="minWorkers"/>, trains <see cref="Small"/>, ends the run; returns params_sha256 and the
    /// registered workers once they settle at <paramref name="workersAfter"/> (bounded).
    /// </summary>
    private async Task<(string Sha, int Workers)> TrainOn(ClusterHost<float> host, int minWorkers, int workersAfter)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        var session = new TrainingSession<float>(Small, _corpus);
        var kernel = Kernels.Default<float>();
        var options = new TrainOptions { OutDir = TestUtil.TempDir(), CheckpointEvery = 1000, ValWindows = 4, Parallelism = 2 };
        await host.WaitForWorkersAsync(minWorkers, TimeSpan.FromSeconds(90), _ => { }, timeout.Token);
        var result = await new Trainer<float>(session, host.Source, kernel, options, new NullObserver()).RunAsync(timeout.Token);
        Assert.False(result.Interrupted);
        int workers = await ClusterTraining.WorkersSettleAt(() => host.Source.Workers, workersAfter, TimeSpan.FromSeconds(30));
        await host.EndRunAsync(true, "test finished");
        return (result.ParamsSha256, workers);
    }

    private WorkerNodeOptions RemoteWorker(ClusterHost<float> host, NodeSecurity security, ConcurrentQueue<string> log) => new()
    {
        Coordinator = AkkaConfig.CoordinatorAddress("127.0.0.1", host.Coordinator.Address.Port!.Value, security.Scheme),
        Corpus = _corpus,
        Threads = 1,
        Node = "remote",
        Log = log.Enqueue,
        Security = security,
        AttemptTimeout = TimeSpan.FromSeconds(5),
        GiveUpAfter = TimeSpan.FromSeconds(20),
    };

    [Fact]
    public async Task A_worker_with_the_wrong_secret_never_gets_in_exits_2_saying_why_and_the_result_is_unchanged()
    {
        string baseline = await Baseline();
        var warnings = new ConcurrentQueue<string>();
        var secret = Secret("the run's secret, 32 bytes long..");
        await using var host = ClusterHost<float>.Start(CoordinatorSettings.For(Small, _corpus) with { Warn = warnings.Enqueue }, _corpus, new ClusterHostOptions
        {
            LocalWorkers = 1, ThreadsPerWorker = 1, Security = new NodeSecurity(secret, null),
        });
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(1));

        // the secret guards the transport itself: a worker with another secret, or none, never reaches registration
        var wrongLog = new ConcurrentQueue<string>();
        var wrongSecret = new NodeSecurity(Secret("a guess, also 32 bytes long....."), null);
        int wrong = await WorkerNode.RunAsync(RemoteWorker(host, wrongSecret, wrongLog), timeout.Token);
        Assert.Equal(WorkerNode.Refused, wrong);
        Assert.Contains(wrongLog, l => l.Contains("refused by the coordinator") && l.Contains("does not prove this run's secret") && l.Contains("--secret-file"));

        var openLog = new ConcurrentQueue<string>();
        var open = RemoteWorker(host, NodeSecurity.None, openLog) with { GiveUpAfter = TimeSpan.FromSeconds(8) };
        Assert.Equal(WorkerNode.GaveUp, await WorkerNode.RunAsync(open with { Coordinator = new Address("akka.tcp", open.Coordinator!.System, open.Coordinator.Host, open.Coordinator.Port) }, timeout.Token));

        // the coordinator said so, and counts only its own local worker
        Assert.Contains(warnings, w => w.Contains("refused a connection") && w.Contains("another secret"));
        Assert.Contains(warnings, w => w.Contains("refused a connection") && w.Contains("did not start the secret handshake"));
        Assert.True(NodeSecurity.Authentication(host.Coordinator.System)!.Refused >= 2);
        Assert.Equal((baseline, 1), await TrainOn(host, 1, workersAfter: 1));
        Assert.All(host.LocalWorkers, w => Assert.Equal(WorkerNode.Ok, w.Result));
    }

    [Fact]
    public async Task A_mutual_TLS_cluster_trains_to_the_same_bits_and_a_node_of_another_CA_never_joins()
    {
        string baseline = await Baseline();
        var dir = TestUtil.TempDir();
        var ours = new TestCertificates(dir, "Run CA");
        var theirs = new TestCertificates(dir, "Other CA");
        using var coordinatorTls = TlsCredentials.FromOptions(ours.Node("coordinator"), ours.CaPath, TestCertificates.Password)!;
        using var workerTls = TlsCredentials.FromOptions(ours.Node("worker-1"), ours.CaPath, TestCertificates.Password)!;
        using var strangerTls = TlsCredentials.FromOptions(theirs.Node("stranger"), theirs.CaPath, TestCertificates.Password)!;
        var secret = Secret("both layers at once, 32 bytes....");
        await using var host = ClusterHost<float>.Start(CoordinatorSettings.For(Small, _corpus), _corpus, new ClusterHostOptions
        {
            LocalWorkers = 1, ThreadsPerWorker = 1, Security = new NodeSecurity(secret, coordinatorTls),
        });
        Assert.Equal("akka.auth.ssl.tcp", host.Coordinator.Address.Protocol); // the secret's handshake over TLS
        using var stop = new CancellationTokenSource(TimeSpan.FromMinutes(2));

        var strangerLog = new ConcurrentQueue<string>();
        var stranger = RemoteWorker(host, new NodeSecurity(secret, strangerTls), strangerLog) with { GiveUpAfter = TimeSpan.FromSeconds(8), AttemptTimeout = TimeSpan.FromSeconds(4) };
        Assert.Equal(WorkerNode.GaveUp, await WorkerNode.RunAsync(stranger, stop.Token));
        Assert.True(coordinatorTls.Rejections + strangerTls.Rejections > 0, "no TLS handshake was refused");
        Assert.True(host.Source.Workers <= 1, "the stranger was counted as a worker"); // only the local worker may be registered

        var remoteLog = new ConcurrentQueue<string>();
        var remote = Task.Run(() => WorkerNode.RunAsync(RemoteWorker(host, new NodeSecurity(secret, workerTls), remoteLog), stop.Token));
        Assert.Equal((baseline, 2), await TrainOn(host, 2, workersAfter: 2));
        Assert.Equal(WorkerNode.Ok, await remote.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.All(host.LocalWorkers, w => Assert.Equal(WorkerNode.Ok, w.Result));
    }

    [Fact]
    public async Task Honest_workers_whose_gradients_diverge_are_not_excluded_and_the_run_stops_as_in_one_process()
    {
        // a far too large learning rate: every honest worker sends NaN; the coordinator recomputes, finds the same,
        // and the training session skips those steps and stops after K in a row, exactly as --workers 0 does
        var config = Small with { Hidden = 8, Seq = 8, Batch = 2, Shards = 2, Optimizer = "sgd", Lr = 3e38, Clip = 0, Steps = 400 };
        var warnings = new ConcurrentQueue<string>();
        await using var host = ClusterHost<float>.Start(CoordinatorSettings.For(config, _corpus) with { Warn = warnings.Enqueue }, _corpus, new ClusterHostOptions
        {
            LocalWorkers = 2, ThreadsPerWorker = 1,
        });
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await host.WaitForWorkersAsync(2, TimeSpan.FromSeconds(60), _ => { }, timeout.Token);
        var observer = new NullObserver();
        var options = new TrainOptions { OutDir = TestUtil.TempDir(), CheckpointEvery = 1000, ValWindows = 2, Parallelism = 1 };
        var e = await Assert.ThrowsAsync<DivergedException>(() =>
            new Trainer<float>(new TrainingSession<float>(config, _corpus), host.Source, Kernels.Default<float>(), options, observer).RunAsync(timeout.Token));
        Assert.Contains("in a row", e.Message);
        Assert.Contains(observer.Warnings, w => w.Contains("skipped"));
        Assert.DoesNotContain(warnings, w => w.Contains("excluded"));
        Assert.Equal(2, await ClusterTraining.WorkersSettleAt(() => host.Source.Workers, 2, TimeSpan.FromSeconds(30)));
    }

    [Fact]
    public async Task A_worker_ignores_orders_that_do_not_come_from_its_coordinator()
    {
        string baseline = await Baseline();
        var settings = CoordinatorSettings.For(Small, _corpus); // its run id is no secret: anyone who asks to join learns it
        await using var host = ClusterHost<float>.Start(settings, _corpus, new ClusterHostOptions
        {
            LocalWorkers = 0,
        });
        ActorSystem? workerSystem = null;
        var log = new ConcurrentQueue<string>();
        using var stop = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        var worker = Task.Run(() => WorkerNode.RunAsync(RemoteWorker(host, NodeSecurity.None, log) with { OnSystem = s => workerSystem = s }, stop.Token));
        await host.WaitForWorkersAsync(1, TimeSpan.FromSeconds(60), _ => { }, stop.Token);

        // a stranger on the network tells the worker to stop, refuses it, and hands it work of the run
        using var stranger = ActorSystem.Create(AkkaConfig.SystemName, AkkaConfig.Node(AkkaConfig.WorkerRole, "127.0.0.1", 0, verbose: false));
        var target = stranger.ActorSelection(new RootActorPath(AkkaConfig.BoundAddress(workerSystem!)) / "user" / AkkaConfig.WorkerActorName);
        target.Tell(new Refused("go away"));
        target.Tell(new RunEnded(true, "it is over, really"));
        var shape = new ModelShape(_corpus.Vocabulary.Size, Small.Hidden);
        var probe = new TaskCompletionSource<object>();
        var inbox = stranger.ActorOf(Props.Create(() => new Inbox(probe)));
        target.Tell(new ComputeSubtrees(settings.RunId, 1, [Subtree.Root(Small.ShardCount)], TensorPayload.Wrap(new float[shape.Count])), inbox);
        await Task.Delay(TimeSpan.FromSeconds(3));
        Assert.False(worker.IsCompleted, "the worker obeyed a stranger");
        Assert.False(probe.Task.IsCompleted, "the worker computed for a stranger");

        Assert.Equal((baseline, 1), await TrainOn(host, 1, workersAfter: 1));
        Assert.Equal(WorkerNode.Ok, await worker.WaitAsync(TimeSpan.FromSeconds(30)));
        await stranger.Terminate();
    }

    private sealed class Inbox : ReceiveActor
    {
        public Inbox(TaskCompletionSource<object> got) => ReceiveAny(m => got.TrySetResult(m));
    }

    // ---- rogue workers ----

    private enum Forgery { WrongShape, NaN }

    /// <summary>Every subtree of a job answered with a forged gradient: the wrong size, or a NaN at dW[0,1].</summary>
    private IEnumerable<SubtreeResult> Forged(ComputeSubtrees job, Forgery forgery)
    {
        var shape = new ModelShape(_corpus.Vocabulary.Size, Small.Hidden);
        var uniform = Enumerable.Repeat(new SequenceRef(0, Small.Seq), Small.Batch).ToArray();
        foreach (var node in job.Nodes)
        {
            long chars = GradientValidator<float>.ExpectedChars(uniform, Small.ShardCount, node);
            var grad = new float[forgery == Forgery.WrongShape ? shape.Count - 7 : shape.Count];
            if (forgery == Forgery.NaN) grad[shape.WOffset + 1] = float.NaN;
            yield return new SubtreeResult(job.RunId, job.Step, node, 1.0, chars, TensorPayload.Wrap(grad));
        }
    }

    [Fact]
    public async Task Rogue_workers_sending_wrong_shapes_and_NaN_are_excluded_and_the_result_is_unchanged()
    {
        string baseline = await Baseline();
        var warnings = new ConcurrentQueue<string>();
        var errors = new ConcurrentQueue<string>();
        await using var host = ClusterHost<float>.Start(CoordinatorSettings.For(Small, _corpus) with { Warn = warnings.Enqueue }, _corpus, new ClusterHostOptions
        {
            LocalWorkers = 2, ThreadsPerWorker = 1, OnSystem = s => ErrorRecorder.Attach(s, errors),
        });
        var rogues = new List<ProtocolRogue>();
        try
        {
            foreach (var forgery in new[] { Forgery.WrongShape, Forgery.NaN })
                rogues.Add(ProtocolRogue.Start(host.Coordinator.Address, $"rogue-{forgery}", _corpus, job => Forged(job, forgery).ToList()));
            // both rogues are registered before step 1, so each is given part of the first step's tree
            var (sha, workers) = await TrainOn(host, 4, workersAfter: 2);
            Assert.True(sha == baseline, $"params_sha256 {sha}, the single-process loop's {baseline}; the coordinator said:\n{string.Join("\n", warnings)}");
            Assert.Equal(2, workers); // the two honest workers finish the run

            var reasons = await Task.WhenAll(rogues.Select(r => r.Refused.WaitAsync(TimeSpan.FromSeconds(10))));
            Assert.All(reasons, r => Assert.Contains("excluded", r));
            Assert.Contains(warnings, w => w.Contains("rogue-WrongShape") && w.Contains("excluded") && w.Contains("values, the model has"));
            Assert.Contains(warnings, w => w.Contains("rogue-NaN") && w.Contains("excluded") && w.Contains("NaN at dW[0,1]"));
            Assert.All(host.LocalWorkers, w => Assert.Equal(WorkerNode.Ok, w.Result));
            Assert.DoesNotContain(errors, e => e.Contains("oversized", StringComparison.OrdinalIgnoreCase));
        }
        finally
        {
            foreach (var r in rogues) await r.DisposeAsync();
        }
    }

    // ---- a node without the secret ----

    /// <summary>
    /// Issue 12 A: a stranger that reaches the port but lacks the secret joins the cluster with role coordinator,
    /// downs the coordinator, and sends orders and results in the names of the coordinator and the worker
    /// (<c>Tell(message, forgedSender)</c>). The run must end with the single-process bits, the honest worker
    /// registered throughout and exiting 0. Before the secret guarded the transport itself, the Down alone ended
    /// the run (the coordinator left its own cluster).
    /// </summary>
    [Fact]
    public async Task A_node_without_the_secret_can_neither_join_down_exclude_nor_order_anyone()
    {
        string baseline = await Baseline();
        var secret = Secret("the run's secret, 32 bytes long..");
        var settings = CoordinatorSettings.For(Small, _corpus);
        await using var host = ClusterHost<float>.Start(settings, _corpus, new ClusterHostOptions { LocalWorkers = 0, Security = new NodeSecurity(secret, null) });
        ActorSystem? workerSystem = null;
        var log = new ConcurrentQueue<string>();
        using var stop = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        var worker = Task.Run(() => WorkerNode.RunAsync(RemoteWorker(host, new NodeSecurity(secret, null), log) with { OnSystem = s => workerSystem = s }, stop.Token));
        await host.WaitForWorkersAsync(1, TimeSpan.FromSeconds(60), _ => { }, stop.Token);

        // the stranger speaks plain Akka to the same TCP ports
        static Address Plain(Address a) => new(AkkaConfig.CoordinatorAddress("h", 1).Protocol, a.System, a.Host, a.Port);
        var coordinatorAt = Plain(host.Coordinator.Address);
        var workerAt = Plain(AkkaConfig.BoundAddress(workerSystem!));
        using var stranger = ActorSystem.Create(AkkaConfig.SystemName, AkkaConfig.Node(AkkaConfig.CoordinatorRole, "127.0.0.1", 0, verbose: false));
        var strangerCluster = Akka.Cluster.Cluster.Get(stranger);
        strangerCluster.Join(coordinatorAt);
        for (var waited = System.Diagnostics.Stopwatch.StartNew(); waited.Elapsed < TimeSpan.FromSeconds(8) && !strangerCluster.State.Members.Any(m => m.Address == coordinatorAt);)
            await Task.Delay(100);
        strangerCluster.Down(coordinatorAt);
        strangerCluster.Down(workerAt);

        var provider = ((ExtendedActorSystem)stranger).Provider;
        var coordinatorRef = provider.ResolveActorRef(new RootActorPath(coordinatorAt) / "user" / AkkaConfig.CoordinatorActorName);
        var workerRef = provider.ResolveActorRef(new RootActorPath(workerAt) / "user" / AkkaConfig.WorkerActorName);
        var shape = new ModelShape(_corpus.Vocabulary.Size, Small.Hidden);
        workerRef.Tell(new ComputeSubtrees(settings.RunId, long.MaxValue, [Subtree.Root(Small.ShardCount)], TensorPayload.Wrap(new float[shape.Count])), coordinatorRef);
        workerRef.Tell(new Refused("go away"), coordinatorRef);
        workerRef.Tell(new RunEnded(true, "it is over, really"), coordinatorRef);
        coordinatorRef.Tell(new SubtreeResult(settings.RunId, long.MaxValue, Subtree.Root(Small.ShardCount), 1.0, 1, TensorPayload.Wrap(new float[shape.Count])), workerRef);
        coordinatorRef.Tell(new WorkerLeaving("forged"), workerRef);
        await Task.Delay(TimeSpan.FromSeconds(2));
        Assert.False(worker.IsCompleted, "the worker obeyed a stranger");

        Assert.Equal((baseline, 1), await TrainOn(host, 1, workersAfter: 1));
        Assert.Equal(WorkerNode.Ok, await worker.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.DoesNotContain(strangerCluster.State.Members, m => m.Address == coordinatorAt && m.Status == Akka.Cluster.MemberStatus.Up);
        var refused = NodeSecurity.Authentication(host.Coordinator.System)!;
        Assert.True(refused.Refused > 0, "the stranger's connection should have been refused by the secret's handshake");
        await stranger.Terminate();
    }

    /// <summary>
    /// The tree data plane's worker-to-worker messages are guarded like every other: a node without the secret sends a
    /// tree worker parameters and sums for every step and epoch of the run before it starts (a worker keeps the first
    /// parameters it gets for a step, so any that got through would change the bits), and the coordinator a root.
    /// The run ends with the single-process bits and the stranger's connections were refused by the secret's handshake.
    /// </summary>
    [Fact]
    public async Task A_node_without_the_secret_cannot_inject_tree_chunks()
    {
        string baseline = await Baseline();
        var secret = Secret("the run's secret, 32 bytes long..");
        var settings = CoordinatorSettings.For(Small, _corpus) with { DataPlane = DataPlane.Tree };
        await using var host = ClusterHost<float>.Start(settings, _corpus, new ClusterHostOptions { LocalWorkers = 0, Security = new NodeSecurity(secret, null) });
        ActorSystem? workerSystem = null;
        using var stop = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        var worker = Task.Run(() => WorkerNode.RunAsync(RemoteWorker(host, new NodeSecurity(secret, null), new ConcurrentQueue<string>()) with { OnSystem = s => workerSystem = s }, stop.Token));
        await host.WaitForWorkersAsync(1, TimeSpan.FromSeconds(60), _ => { }, stop.Token);

        static Address Plain(Address a) => new(AkkaConfig.CoordinatorAddress("h", 1).Protocol, a.System, a.Host, a.Port);
        using var stranger = ActorSystem.Create(AkkaConfig.SystemName, AkkaConfig.Node(AkkaConfig.WorkerRole, "127.0.0.1", 0, verbose: false));
        var provider = ((ExtendedActorSystem)stranger).Provider;
        var workerRef = provider.ResolveActorRef(new RootActorPath(Plain(AkkaConfig.BoundAddress(workerSystem!))) / "user" / AkkaConfig.WorkerActorName);
        var coordinatorRef = provider.ResolveActorRef(new RootActorPath(Plain(host.Coordinator.Address)) / "user" / AkkaConfig.CoordinatorActorName);
        var shape = new ModelShape(_corpus.Vocabulary.Size, Small.Hidden);
        var root = Subtree.Root(Small.ShardCount);
        var poison = Enumerable.Repeat(1e3f, shape.Count).ToArray();
        for (long step = 1; step <= Small.Steps; step++)
        {
            workerRef.Tell(new TreeParameters(settings.RunId, step, 0, TensorPayload.Wrap(poison)), coordinatorRef);
            for (int epoch = 1; epoch <= 3; epoch++)
                coordinatorRef.Tell(new TreeSum(settings.RunId, step, epoch, root, 0, 1.0, 1, TensorPayload.Wrap(poison)), workerRef);
        }
        await Task.Delay(TimeSpan.FromSeconds(2));

        Assert.Equal((baseline, 1), await TrainOn(host, 1, workersAfter: 1));
        Assert.Equal(WorkerNode.Ok, await worker.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.True(NodeSecurity.Authentication(host.Coordinator.System)!.Refused + NodeSecurity.Authentication(workerSystem!)!.Refused > 0,
            "the stranger's connections should have been refused by the secret's handshake");
        await stranger.Terminate();
    }

    // ---- roles in certificates ----

    /// <summary>Answers every join request with a refusal and tells workers the run is over: what a node posing as coordinator would do.</summary>
    private sealed class PosingCoordinator : ReceiveActor
    {
        public PosingCoordinator()
        {
            Receive<JoinRequest>(_ => { Sender.Tell(new Refused("go away")); Sender.Tell(new RunEnded(true, "it is over")); });
            ReceiveAny(_ => { });
        }
    }

    /// <summary>
    /// Issue 12 A, with TLS: a certificate says which role it may play. A node with a worker's certificate of the
    /// run's CA joins the cluster with the coordinator role and refuses and dismisses every worker that asks it; the
    /// honest worker ignores it (it takes only the coordinator at its --join address, proven by a coordinator
    /// certificate), and the run ends with the single-process bits. On 6517c81 the worker adopted the newcomer as its
    /// coordinator and exited 2 on its refusal. And a "coordinator" whose certificate is a worker's gets no work.
    /// </summary>
    [Fact]
    public async Task With_TLS_a_worker_certificate_cannot_act_as_coordinator()
    {
        string baseline = await Baseline();
        var dir = TestUtil.TempDir();
        var ca = new TestCertificates(dir, "Run CA");
        using var coordinatorTls = TlsCredentials.FromOptions(ca.Node("coordinator"), ca.CaPath, TestCertificates.Password)!;
        using var workerTls = TlsCredentials.FromOptions(ca.Node("worker-1"), ca.CaPath, TestCertificates.Password)!;
        using var posingTls = TlsCredentials.FromOptions(ca.Node("worker-2"), ca.CaPath, TestCertificates.Password)!;
        using var stop = new CancellationTokenSource(TimeSpan.FromMinutes(3));

        // a coordinator holding a worker's certificate: the worker refuses to compute for it
        await using (var posing = ClusterHost<float>.Start(CoordinatorSettings.For(Small, _corpus), _corpus, new ClusterHostOptions { Security = new NodeSecurity(null, posingTls) }))
        {
            var refusedLog = new ConcurrentQueue<string>();
            int code = await WorkerNode.RunAsync(RemoteWorker(posing, new NodeSecurity(null, workerTls), refusedLog), stop.Token);
            Assert.True(code == WorkerNode.Refused, $"exit {code}:\n{string.Join("\n", refusedLog)}");
            Assert.Contains(refusedLog, l => l.Contains("made for the worker role"));
        }

        await using var host = ClusterHost<float>.Start(CoordinatorSettings.For(Small, _corpus), _corpus, new ClusterHostOptions { Security = new NodeSecurity(null, coordinatorTls) });
        var log = new ConcurrentQueue<string>();
        var worker = Task.Run(() => WorkerNode.RunAsync(RemoteWorker(host, new NodeSecurity(null, workerTls), log), stop.Token));
        await host.WaitForWorkersAsync(1, TimeSpan.FromSeconds(60), _ => { }, stop.Token);

        using var rogue = TlsCredentials.CreateSystem(AkkaConfig.SystemName, AkkaConfig.Node(AkkaConfig.CoordinatorRole, "127.0.0.1", 0, verbose: false), posingTls);
        rogue.ActorOf(Props.Create(() => new PosingCoordinator()), AkkaConfig.CoordinatorActorName);
        Akka.Cluster.Cluster.Get(rogue).Join(host.Coordinator.Address);
        var rogueAt = AkkaConfig.BoundAddress(rogue);
        var coordinatorView = Akka.Cluster.Cluster.Get(host.Coordinator.System);
        for (var waited = System.Diagnostics.Stopwatch.StartNew(); waited.Elapsed < TimeSpan.FromSeconds(20)
             && !coordinatorView.State.Members.Any(m => m.Address == rogueAt && m.Status == Akka.Cluster.MemberStatus.Up);)
            await Task.Delay(100);
        Assert.Contains(coordinatorView.State.Members, m => m.Address == rogueAt); // it did get in: TLS alone lets it
        await Task.Delay(TimeSpan.FromSeconds(2));
        Assert.False(worker.IsCompleted, $"the worker obeyed a node with a worker's certificate:\n{string.Join("\n", log)}");

        Assert.Equal((baseline, 1), await TrainOn(host, 1, workersAfter: 1));
        Assert.Equal(WorkerNode.Ok, await worker.WaitAsync(TimeSpan.FromSeconds(30)));
        await rogue.Terminate();
    }

    /// <summary>
    /// Issue 12 B: a stranger keeps opening idle connections to the coordinator's Akka port (one every 20 ms, each
    /// held for 6 s, past the handshake's limit). An honest worker still gets in — a new connection closes the oldest
    /// one still in the handshake, and an honest one is through in a round trip — and the run ends with the
    /// single-process bits.
    /// </summary>
    [Fact]
    public async Task A_worker_gets_in_while_a_stranger_floods_the_port_with_idle_connections()
    {
        string baseline = await Baseline();
        var secret = Secret("the run's secret, 32 bytes long..");
        await using var host = ClusterHost<float>.Start(CoordinatorSettings.For(Small, _corpus), _corpus, new ClusterHostOptions { Security = new NodeSecurity(secret, null) });
        using var stop = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        using var flooding = CancellationTokenSource.CreateLinkedTokenSource(stop.Token);
        int port = host.Coordinator.Address.Port!.Value;
        var flood = Task.Run(async () =>
        {
            var open = new Queue<(System.Net.Sockets.TcpClient Client, DateTime Until)>();
            try
            {
                while (!flooding.IsCancellationRequested)
                {
                    var c = new System.Net.Sockets.TcpClient();
                    try { await c.ConnectAsync("127.0.0.1", port, flooding.Token); open.Enqueue((c, DateTime.UtcNow.AddSeconds(6))); }
                    catch (Exception e) when (e is System.Net.Sockets.SocketException or OperationCanceledException) { c.Dispose(); }
                    while (open.Count > 0 && open.Peek().Until < DateTime.UtcNow) open.Dequeue().Client.Dispose();
                    await Task.Delay(20, flooding.Token).ContinueWith(_ => { });
                }
            }
            finally { foreach (var (c, _) in open) c.Dispose(); }
        });
        await Task.Delay(TimeSpan.FromSeconds(2)); // the flood holds every handshake slot before the worker comes

        var log = new ConcurrentQueue<string>();
        var worker = Task.Run(() => WorkerNode.RunAsync(RemoteWorker(host, new NodeSecurity(secret, null), log) with { GiveUpAfter = TimeSpan.FromSeconds(90) }, stop.Token));
        await host.WaitForWorkersAsync(1, TimeSpan.FromSeconds(90), _ => { }, stop.Token);
        Assert.Equal((baseline, 1), await TrainOn(host, 1, workersAfter: 1));
        flooding.Cancel();
        await flood;
        Assert.Equal(WorkerNode.Ok, await worker.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.True(NodeSecurity.Authentication(host.Coordinator.System)!.Refused > 10, "the flood should have been refused");
    }

    /// <summary>
    /// A remote worker sizes its frames before it knows the model (so an unauthenticated peer can make it buffer little);
    /// when the run's model is larger it starts again with frames for it, registers, and the bits are the same.
    /// </summary>
    [Fact]
    public async Task A_worker_whose_frames_are_too_small_for_the_model_starts_again_with_larger_ones()
    {
        string baseline = await Baseline();
        await using var host = ClusterHost<float>.Start(CoordinatorSettings.For(Small, _corpus), _corpus, new ClusterHostOptions());
        using var stop = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        var log = new ConcurrentQueue<string>();
        var worker = Task.Run(() => WorkerNode.RunAsync(RemoteWorker(host, NodeSecurity.None, log) with { MaxTensorValues = 100 }, stop.Token));
        Assert.Equal((baseline, 1), await TrainOn(host, 1, workersAfter: 1));
        Assert.Equal(WorkerNode.Ok, await worker.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Contains(log, l => l.Contains("more than this node's frames were made for (100)"));
    }
}
