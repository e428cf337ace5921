using System.CommandLine;
using System.Numerics;
using DistRnn.Compute;
using DistRnn.Configuration;
using DistRnn.Coordinator.Checkpoints;
using DistRnn.Coordinator.Metrics;
using DistRnn.Coordinator.Node;
using DistRnn.Coordinator.Output;
using DistRnn.Coordinator.Scheduling;
using DistRnn.Coordinator.Training;
using DistRnn.Data;
using DistRnn.Diagnostics;
using DistRnn.Model;
using DistRnn.Security;
using DistRnn.Transport.Bootstrap;
using DistRnn.Transport;

namespace DistRnn.Coordinator.Commands;

/// <summary>`train`: the single-process loop (--workers 0) or the coordinator of a cluster run.</summary>
internal static class TrainCommand
{
    private static readonly TrainConfig D = new();
    private static readonly RunSettings R = new();

    internal static readonly Option<string?> Corpus = Options.Optional<string>("--corpus", "UTF-8 text to train on (default: the embedded tiny-shakespeare)");
    internal static readonly Option<int> Hidden = Options.Make("--hidden", "State size d", D.Hidden);
    internal static readonly Option<int> Seq = Options.Make("--seq", "Characters per sequence T", D.Seq);
    internal static readonly Option<int> Batch = Options.Make("--batch", "Sequences per step (global)", D.Batch);
    internal static readonly Option<long> Steps = Options.Make("--steps", "Optimiser steps in total (counting steps done before a resume)", D.Steps);
    internal static readonly Option<string> Optimizer = Options.Make("--optimizer", $"Update rule: {TrainConfig.OptimizerList}", D.Optimizer);
    internal static readonly Option<double> Lr = Options.Make("--lr", "Learning rate", D.Lr);
    // The optimiser's options (docs/optimizers.md): all of them define the bits, so they are TrainConfig fields.
    internal static readonly Option<double> RmspropDecay = Options.Make("--rmsprop-decay", "RMSProp's α, the decay of the mean square (char-rnn's decay_rate)", D.RmspropDecay);
    internal static readonly Option<string> LrSchedule = Options.Make("--lr-schedule", "Learning-rate schedule: constant, step (× --lr-decay every --lr-decay-every steps from --lr-decay-after on, as char-rnn) or cosine (to 0 at --steps)", D.LrSchedule);
    internal static readonly Option<double> LrDecay = Options.Make("--lr-decay", "--lr-schedule step: factor applied to the rate at the end of each period (char-rnn's learning_rate_decay)", D.LrDecay);
    internal static readonly Option<int> LrDecayAfter = Options.Make("--lr-decay-after", "--lr-schedule step: the first period at whose end the rate decays (char-rnn's learning_rate_decay_after)", D.LrDecayAfter);
    internal static readonly Option<long> LrDecayEvery = Options.Make("--lr-decay-every", "--lr-schedule step: the period in steps (0 = one epoch as char-rnn counts it: training characters / (batch × seq))", D.LrDecayEvery);
    internal static readonly Option<long> WarmupSteps = Options.Make("--warmup-steps", "Linear warmup: the rate rises from lr/N to lr over the first N steps (0 = none)", D.WarmupSteps);
    internal static readonly Option<double> Clip = Options.Make("--clip", "Gradient-norm clip (0 = off)", D.Clip);
    internal static readonly Option<string> ActivationOpt = Options.Make("--activation", "σ: tanh or sigmoid", D.Activation);
    internal static readonly Option<string> CellOpt = Options.Make("--cell", "Recurrent cell of every layer: rnn (the lecture's), lstm or gru (docs/cells.md)", D.Cell);
    internal static readonly Option<int> Layers = Options.Make("--layers", "Stacked recurrent layers", D.Layers);
    internal static readonly Option<double> DropoutOpt = Options.Make("--dropout", "Dropout p on every layer's output (between layers and before the output layer), in training only (0 = none)", D.Dropout);
    internal static readonly Option<string> PrecisionOpt = Options.Make("--precision", "Arithmetic: float32 or float64", D.Precision);
    internal static readonly Option<long> Seed = Options.Make("--seed", "Seed of every random choice (init, data order, sampling)", D.Seed);
    internal static readonly Option<double> ValFrac = Options.Make("--val-frac", "Fraction of the corpus (its end) held out for validation", D.ValFrac);
    internal static readonly Option<int> Shards = Options.Make("--shards", "Shards per step, a power of two ≤ batch (0 = largest power of two ≤ min(batch, 16))", 0);
    internal static readonly Option<string> StateOpt = Options.Make("--state", "Recurrent state between steps: reset (every sequence from s_0 = 0, full BPTT) or carry (truncated BPTT: --batch streams of consecutive windows, each window's s_0 its stream's last state; README \"Carried states\")", D.State);
    internal static readonly Option<int> Workers = Options.Make("--workers", "Local worker nodes (0 = no cluster, the plain single-process loop)", R.Workers);
    internal static readonly Option<string?> Out = Options.Optional<string>("--out", "Output folder: checkpoints, metrics.jsonl, loss.png (default: runs/<time>)");
    internal static readonly Option<int> CheckpointEvery = Options.Make("--checkpoint-every", "Write a checkpoint every K steps (and always at the end)", R.CheckpointEvery);
    internal static readonly Option<int> EvalEvery = Options.Make("--eval-every", "Measure the validation loss every K steps (0 = at each checkpoint)", R.EvalEvery);
    internal static readonly Option<int> KeepCheckpoints = Options.Make("--keep-checkpoints", "Step checkpoints kept in --out (best.bin is kept apart)", R.KeepCheckpoints);
    internal static readonly Option<int> LogEvery = Options.Make("--log-every", "Print a progress line every K steps", R.LogEvery);
    internal static readonly Option<string?> Resume = Options.Optional<string>("--resume", "Continue from a checkpoint file, or the newest valid one in a folder (the run's other options are saved in it; typed ones override)");
    internal static readonly Option<bool> Json = new("--json") { Description = "Progress as JSON lines on stdout, one per step; the last line is the \"done\" event" };
    internal static readonly Option<int> Threads = Options.Make("--threads", "Cores used by the single-process loop, or by each local worker (0 = all cores, shared among the local workers)", R.Threads);
    internal static readonly Option<string?> Listen = Options.Optional<string>("--listen", "HOST:PORT where the coordinator accepts remote workers (src/Worker --join HOST:PORT)");
    internal static readonly Option<string?> Discovery = Options.Optional<string>(ClusterDiscovery.DiscoveryOption, "Form the cluster through Akka.Management's Cluster Bootstrap (with --listen): config (with --contact-points) or kubernetes (the run's pods); workers use the same");
    internal static readonly Option<string?> ContactPoints = Options.Optional<string>(ClusterDiscovery.ContactPointsOption, "With --discovery config: every node's management HOST:PORT, comma-separated (this node's --management among them)");
    internal static readonly Option<string?> Management = Options.Optional<string>(ClusterDiscovery.ManagementOption, "HOST:PORT of this node's Akka.Management endpoint (bootstrap, /alive, /ready) with --discovery (default: the --listen host, port 8558)");
    internal static readonly Option<string?> Standby = Options.Optional<string>("--standby", "HOST:PORT of the active coordinator (its --listen), then optionally its other standbys' (HOST:PORT,HOST:PORT…): start as a standby, which holds the run's state step by step, follows whichever of them holds the run, and continues the run by itself when none is left (needs --listen; the run's other options as the active's; docs/failover.md)");
    internal static readonly Option<int?> MinWorkers = Options.Optional<int?>("--min-workers", "Workers (local + remote) that must be registered before step 1 (default: --workers, at least 1 with --listen)");
    internal static readonly Option<string?> SecretFile = Options.Optional<string>("--secret-file", "Shared secret of the run: a worker that does not prove the same secret (HMAC challenge–response; the secret never crosses the wire) is refused");
    internal static readonly Option<string?> TlsCert = Options.Optional<string>("--tls-cert", "This node's certificate with its key (.pfx; password from DISTRNN_TLS_PASSWORD): mutual TLS on the cluster transport (needs --tls-ca)");
    internal static readonly Option<string?> TlsCa = Options.Optional<string>("--tls-ca", "The CA (PEM or DER) that every peer's certificate must chain to (with --tls-cert)");
    internal static readonly Option<bool> NoBackupTasks = new("--no-backup-tasks")
    {
        Description = "Never let idle workers recompute a slow worker's subtrees (backup tasks; on by default, the bits are the same either way)",
    };
    internal static readonly Option<bool> Insecure = new(NodeSecurity.InsecureOption)
    {
        Description = "Allow --listen on an address other machines can reach without --secret-file or --tls-cert (anyone who reaches it could join and steer the run)",
    };
    internal static readonly Option<int?> SampleTopK = SamplingOptions.TopK("The sample printed at the end");
    internal static readonly Option<double?> SampleTopP = SamplingOptions.TopP("The sample printed at the end");
    internal static readonly Option<string?> MetricsAt = MetricsEndpoint.NewOption();
    internal static readonly Option<string> DataPlaneOpt = Options.Make("--data-plane", "How a cluster step's tensors travel: star (through the coordinator) or tree (summed among the workers; docs/data-plane.md); the bits are the same", R.DataPlane);
    internal static readonly Option<int> WaitTimeout = Options.Make("--wait-timeout", "Seconds to wait for --min-workers (and for any worker when all are lost) before giving up with exit 1", R.WaitTimeout);

    public static Command Create()
    {
        var cmd = new Command("train", "Train a model (single process, local cluster, or coordinator of a multi-node run)")
        {
            Corpus, Hidden, Seq, Batch, Steps, Optimizer, Lr, RmspropDecay, LrSchedule, LrDecay, LrDecayAfter, LrDecayEvery, WarmupSteps, Clip, ActivationOpt, CellOpt, Layers, DropoutOpt, PrecisionOpt, Seed, ValFrac, Shards, StateOpt,
            Workers, Listen, Standby, Discovery, ContactPoints, Management, MinWorkers, WaitTimeout, NoBackupTasks, DataPlaneOpt, Insecure, SecretFile, TlsCert, TlsCa, Out, CheckpointEvery, EvalEvery, KeepCheckpoints, LogEvery, Resume, Json, Threads, MetricsAt, Options.Verbose,
            ConfigFile.Option, SampleTopK, SampleTopP,
        };
        cmd.SetAction((parse, ct) => RunAsync(parse, ct));
        return cmd;
    }

    /// <summary>Options that define the bits of a run: on --resume they must match the checkpoint when given.</summary>
    private static IEnumerable<(Option Option, Func<TrainConfig, object?> Get, Func<ParseResult, object?> Value)> RunDefining() =>
    [
        (Hidden, c => c.Hidden, p => p.GetValue(Hidden)),
        (Seq, c => c.Seq, p => p.GetValue(Seq)),
        (Batch, c => c.Batch, p => p.GetValue(Batch)),
        (Optimizer, c => c.Optimizer, p => p.GetValue(Optimizer)),
        (Lr, c => c.Lr, p => p.GetValue(Lr)),
        (RmspropDecay, c => c.RmspropDecay, p => p.GetValue(RmspropDecay)),
        (LrSchedule, c => c.LrSchedule, p => p.GetValue(LrSchedule)),
        (LrDecay, c => c.LrDecay, p => p.GetValue(LrDecay)),
        (LrDecayAfter, c => c.LrDecayAfter, p => p.GetValue(LrDecayAfter)),
        (LrDecayEvery, c => c.LrDecayEvery, p => p.GetValue(LrDecayEvery)),
        (WarmupSteps, c => c.WarmupSteps, p => p.GetValue(WarmupSteps)),
        (Clip, c => c.Clip, p => p.GetValue(Clip)),
        (ActivationOpt, c => c.Activation, p => p.GetValue(ActivationOpt)),
        (CellOpt, c => c.Cell, p => p.GetValue(CellOpt)),
        (Layers, c => c.Layers, p => p.GetValue(Layers)),
        (DropoutOpt, c => c.Dropout, p => p.GetValue(DropoutOpt)),
        (PrecisionOpt, c => c.Precision, p => p.GetValue(PrecisionOpt)),
        (Seed, c => c.Seed, p => p.GetValue(Seed)),
        (ValFrac, c => c.ValFrac, p => p.GetValue(ValFrac)),
        (Shards, c => c.Shards, p => p.GetValue(Shards)),
        (StateOpt, c => c.State, p => p.GetValue(StateOpt)),
    ];

    private static TrainConfig ConfigFrom(ParseResult p) => new()
    {
        Corpus = p.GetValue(Corpus) is string s ? Path.GetFullPath(s) : null,
        Hidden = p.GetValue(Hidden),
        Seq = p.GetValue(Seq),
        Batch = p.GetValue(Batch),
        Steps = p.GetValue(Steps),
        Optimizer = p.GetValue(Optimizer)!,
        Lr = p.GetValue(Lr),
        RmspropDecay = p.GetValue(RmspropDecay),
        LrSchedule = p.GetValue(LrSchedule)!,
        LrDecay = p.GetValue(LrDecay),
        LrDecayAfter = p.GetValue(LrDecayAfter),
        LrDecayEvery = p.GetValue(LrDecayEvery),
        WarmupSteps = p.GetValue(WarmupSteps),
        Clip = p.GetValue(Clip),
        Activation = p.GetValue(ActivationOpt)!,
        Cell = p.GetValue(CellOpt)!,
        Layers = p.GetValue(Layers),
        Dropout = p.GetValue(DropoutOpt),
        Precision = p.GetValue(PrecisionOpt)!,
        Seed = p.GetValue(Seed),
        ValFrac = p.GetValue(ValFrac),
        Shards = p.GetValue(Shards),
        State = p.GetValue(StateOpt)!,
    };

    /// <summary>How the run is carried out: each option as typed; an untyped one, on --resume, as the checkpoint saved it (else its default).</summary>
    private static RunSettings RunFrom(ParseResult p, RunSettings? saved)
    {
        T Pick<T>(Option<T> option, T old) => saved is null || p.Given(option) ? p.GetValue(option)! : old;
        var s = saved ?? R;
        return new RunSettings
        {
            Workers = Pick(Workers, s.Workers),
            MinWorkers = Pick(MinWorkers, s.MinWorkers),
            Listen = Pick(Listen, s.Listen),
            Discovery = Pick(Discovery, s.Discovery),
            ContactPoints = Pick(ContactPoints, s.ContactPoints),
            Management = Pick(Management, s.Management),
            WaitTimeout = Pick(WaitTimeout, s.WaitTimeout),
            NoBackupTasks = Pick(NoBackupTasks, s.NoBackupTasks),
            Insecure = Pick(Insecure, s.Insecure),
            Threads = Pick(Threads, s.Threads),
            SecretFile = Pick(SecretFile, s.SecretFile),
            TlsCert = Pick(TlsCert, s.TlsCert),
            TlsCa = Pick(TlsCa, s.TlsCa),
            CheckpointEvery = Pick(CheckpointEvery, s.CheckpointEvery),
            EvalEvery = Pick(EvalEvery, s.EvalEvery),
            KeepCheckpoints = Pick(KeepCheckpoints, s.KeepCheckpoints),
            LogEvery = Pick(LogEvery, s.LogEvery),
            DataPlane = Pick(DataPlaneOpt, s.DataPlane),
        };
    }

    private static async Task<int> RunAsync(ParseResult parse, CancellationToken ct)
    {
        SamplingOptions.From(parse, SampleTopK, SampleTopP); // checked before the run, used by the final sample
        if (parse.GetValue(CheckpointEvery) <= 0) throw new InputException($"--checkpoint-every {parse.GetValue(CheckpointEvery)}: must be positive");
        if (parse.GetValue(EvalEvery) < 0) throw new InputException($"--eval-every {parse.GetValue(EvalEvery)}: must not be negative");
        if (parse.GetValue(Workers) < 0) throw new InputException($"--workers {parse.GetValue(Workers)}: must not be negative");
        if (parse.GetValue(MinWorkers) is int mw && mw < 0) throw new InputException($"--min-workers {mw}: must not be negative");
        if (parse.GetValue(WaitTimeout) <= 0) throw new InputException($"--wait-timeout {parse.GetValue(WaitTimeout)}: must be a positive number of seconds");
        if (parse.GetValue(Listen) is string listen) AkkaConfig.ParseEndpoint(listen, "--listen");
        if (parse.GetValue(MetricsAt) is string metricsAt) MetricsEndpoint.Parse(metricsAt);
        if (parse.GetValue(DataPlaneOpt) is not ("star" or "tree")) throw new InputException($"--data-plane {parse.GetValue(DataPlaneOpt)}: expected star or tree");
        if (parse.GetValue(Standby) is string standby)
        {
            StandbyEndpoints(standby);
            if (parse.GetValue(Listen) is null) throw new InputException($"--standby {standby}: needs --listen HOST:PORT (where this standby joins the cluster and, once it coordinates, workers reach it)");
            if (parse.GetValue(Resume) is string r) throw new InputException($"--resume {r}: a standby takes the run's state from the active coordinator (--standby), not from a checkpoint");
            if (parse.Given(Workers) && parse.GetValue(Workers) > 0) throw new InputException($"--workers {parse.GetValue(Workers)}: a standby starts no local workers; the run's workers join both coordinators (distrnn-worker --join ACTIVE,STANDBY)");
            // not wired into the standby's path yet: refused rather than silently ignored
            if (parse.GetValue(Discovery) is string d) throw new InputException($"--discovery {d}: a standby joins its active coordinator at --standby {standby}, not through Cluster Bootstrap (not supported together yet)");
            if (parse.GetValue(MetricsAt) is string m) throw new InputException($"--metrics {m}: a standby serves no metrics yet (give --metrics to the active coordinator)");
        }
        if (parse.GetValue(LogEvery) <= 0) throw new InputException($"--log-every {parse.GetValue(LogEvery)}: must be positive");
        if (parse.GetValue(KeepCheckpoints) < 0) throw new InputException($"--keep-checkpoints {parse.GetValue(KeepCheckpoints)}: must not be negative");
        if (parse.GetValue(Threads) < 0) throw new InputException($"--threads {parse.GetValue(Threads)}: must not be negative");
        if (parse.GetValue(Out) is string outGiven) InputFile.CheckFolder(outGiven, "--out");
        if (parse.GetValue(Corpus) is string corpusGiven) InputFile.CheckSyntax(corpusGiven, "--corpus");
        if (parse.GetValue(Resume) is string resumeGiven) InputFile.CheckSyntax(resumeGiven, "--resume");
        Options.CheckEnvironment();

        Checkpoint? resume = null;
        TrainConfig config;
        string outDir;
        if (parse.GetValue(Resume) is string resumePath)
        {
            resume = CheckpointStore.Resolve(resumePath, "--resume", m => Console.Error.WriteLine(m));
            var saved = resume.Header.Config;
            foreach (var (option, get, value) in RunDefining())
            {
                if (parse.Given(option) && !Equals(get(saved), value(parse)))
                    throw new InputException($"{option.Name} {value(parse)}: differs from the checkpoint's {get(saved)} ({resume.Path}); a resumed run keeps its configuration");
            }
            config = saved with
            {
                Steps = parse.Given(Steps) ? parse.GetValue(Steps) : saved.Steps,
                Corpus = parse.GetValue(Corpus) is string c ? Path.GetFullPath(c) : saved.Corpus,
            };
            outDir = parse.GetValue(Out) ?? (File.Exists(resumePath) ? Path.GetDirectoryName(Path.GetFullPath(resumePath))! : resumePath);
        }
        else
        {
            config = ConfigFrom(parse);
            outDir = parse.GetValue(Out) ?? Path.Combine("runs", DateTime.Now.ToString("yyyyMMdd-HHmmss"));
            if (CheckpointStore.List(outDir).Any())
                throw new InputException($"--out {outDir}: already holds checkpoints; continue it with --resume {outDir} or choose another folder");
        }
        config.Validate();
        var run = RunFrom(parse, resume?.Header.Run);
        // The security files are read before anything is written, so a bad one leaves no half-made run behind.
        var security = NodeSecurity.FromOptions(run.SecretFile, run.TlsCert, run.TlsCa, w => Console.Error.WriteLine(w));
        if (run.Listen is string exposed)
        {
            security.CheckExposure(AkkaConfig.ParseEndpoint(exposed, "--listen").Host, $"--listen {exposed}", run.Insecure);
            if (security.Tls is { } tls && CertificateRole.Problem(tls.Certificate, CertificateRole.Coordinator) is string role)
                throw new InputException($"{TlsCredentials.CertOption} {tls.CertPath}: {role}; workers refuse to compute for it");
        }
        if (run.Discovery is not null && run.Listen is null) throw new InputException($"{ClusterDiscovery.DiscoveryOption} {run.Discovery}: needs --listen HOST:PORT (where workers reach this coordinator)");
        var discovery = ClusterDiscovery.FromOptions(run.Discovery, run.ContactPoints, run.Management,
            run.Listen is string l ? AkkaConfig.ParseEndpoint(l, "--listen").Host : "127.0.0.1");
        var corpus = Data.Corpus.Load(config.Corpus);
        config.ShapeFor(corpus.Vocabulary.Size).Validate($"--hidden {config.Hidden}");

        if (parse.GetValue(Standby) is string active)
            return config.PrecisionKind == Precision.Float32
                ? await RunStandbyAsync<float>(parse, config, run with { Workers = 0 }, corpus, outDir, security, active, ct)
                : await RunStandbyAsync<double>(parse, config, run with { Workers = 0 }, corpus, outDir, security, active, ct);
        return config.PrecisionKind == Precision.Float32
            ? await RunTypedAsync<float>(parse, config, run, corpus, resume, outDir, security, discovery, ct)
            : await RunTypedAsync<double>(parse, config, run, corpus, resume, outDir, security, discovery, ct);
    }

    private static async Task<int> RunTypedAsync<T>(ParseResult parse, TrainConfig config, RunSettings run, Corpus corpus, Checkpoint? resume, string outDir, NodeSecurity security, ClusterDiscovery? discovery, CancellationToken ct)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var session = resume is null ? new TrainingSession<T>(config, corpus) : resume.ToSession<T>(corpus, config);
        if (session.TrainLength < config.Seq + 1)
            throw new InputException($"--corpus: the training split has {session.TrainLength} characters, fewer than --seq {config.Seq} + 1");
        if (session.Step >= config.Steps)
            throw new InputException($"--steps {config.Steps}: the checkpoint is already at step {session.Step}; ask for more steps to continue");

        // listening first: a port that is taken is bad input before anything is written
        using var metrics = parse.GetValue(MetricsAt) is string metricsAt ? CoordinatorMetrics.Serve(metricsAt) : null;
        Directory.CreateDirectory(outDir);
        if (resume is not null) SetAsideLaterCheckpoints(session, outDir);
        int threads = run.Threads > 0 ? run.Threads : Environment.ProcessorCount;
        var kernel = Kernels.For<T>(session.Params.Shape, config.Dropout);
        using var reporter = new TrainingReporter(parse.GetValue(Json), run.LogEvery, Path.Combine(outDir, TrainingReporter.MetricsName), startStep: session.Step);
        ITrainingObserver observer = metrics?.Observing(reporter) ?? reporter;
        if (metrics is not null) reporter.Info(metrics.Describe());
        reporter.PlotTitle = PlotTitle(corpus, config);
        var options = TrainOptionsFor(run, outDir, threads);
        int workers = run.Workers;
        string? listen = run.Listen;
        bool cluster = workers > 0 || listen is not null;
        // a local cluster with no secret of the user's gets one of its own: only this process's workers can join it
        if (cluster && listen is null && security.Secret is null)
            security = security with { Secret = SharedSecret.FromBytes(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)) };
        reporter.Info($"training on {corpus.Name}: {corpus.Tokens.Length} characters, vocabulary {corpus.Vocabulary.Size}, hidden {config.Hidden}, " +
                      $"{config.Precision}, {(cluster ? $"cluster of {workers} local worker{(workers == 1 ? "" : "s")}{(listen is null ? "" : $" and remote workers at {listen}")}" : "single process")}, steps {session.Step + 1}..{config.Steps}, out {outDir}");

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct, Cli.Shutdown);
        if (!cluster && security != NodeSecurity.None)
            reporter.OnWarning("--secret-file / --tls-cert have no effect on the single-process loop (--workers 0 without --listen)");
        if (cluster) reporter.Info($"cluster security: {security.Describe()}");
        if (!cluster)
        {
            using var computer = new SubtreeComputer<T>(kernel, threads);
            var local = new LocalGradientSource<T>(computer, session.Activation, corpus.Tokens, session.ShardCount);
            return Finish(parse, session, corpus, outDir, reporter, await RunTrainerAsync(new Trainer<T>(session, local, kernel, options, observer), outDir, stop.Token));
        }

        var (host, port) = listen is null ? ("127.0.0.1", 0) : AkkaConfig.ParseEndpoint(listen, "--listen");
        int minWorkers = run.MinWorkers ?? Math.Max(workers, 1);
        var settings = SettingsFor(config, corpus, run, reporter) with
        {
            Info = m => { if (parse.GetValue(Options.Verbose) || listen is not null) reporter.Info(m); },
            Metrics = metrics,
        };
        var clusterHost = ClusterHost<T>.Start(settings, corpus, new ClusterHostOptions
        {
            LocalWorkers = workers,
            ThreadsPerWorker = run.Threads,
            Host = host,
            Port = port,
            Verbose = parse.GetValue(Options.Verbose),
            Log = reporter.Info,
            Security = security,
            Discovery = discovery,
            Failover = listen is not null,
        });
        metrics?.WatchWorkers(() => clusterHost.Coordinator.Workers);
        // a coordinator that listens replicates every step to the standbys that attach (docs/failover.md)
        var node = clusterHost.Coordinator;
        IGradientSource<T> source = node.Replication is { } replication
            ? new Failover.ReplicatingSource<T>(clusterHost.Source, session, settings.RunId, replication, node.ReplicationStatus, run)
            : clusterHost.Source;
        TrainResult? result = null;
        // ready (/ready with --discovery) from here until the run is over: taking workers in, waiting for them or training
        var health = NodeHealth.Get(clusterHost.Coordinator.System);
        health.Ready(null);
        try
        {
            if (minWorkers > 0)
                await clusterHost.WaitForWorkersAsync(minWorkers, TimeSpan.FromSeconds(run.WaitTimeout), reporter.Info, stop.Token, remote: listen is not null);
            result = await RunTrainerAsync(new Trainer<T>(session, source, kernel, options, observer), outDir, stop.Token);
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            Console.Error.WriteLine("interrupted before step 1");
            return Cli.Failure;
        }
        finally
        {
            health.Ready("the run is over");
            bool completed = result is { Interrupted: false };
            await clusterHost.EndRunAsync(completed, completed ? "training finished" : "the coordinator stopped");
            await clusterHost.DisposeAsync();
        }
        return Finish(parse, session, corpus, outDir, reporter, result);
    }

    /// <summary>
    /// <c>train … --listen B:PORT --standby A:PORT</c> (docs/failover.md): joins the active coordinator's cluster, takes the
    /// run's state from it (the checkpoint of its last completed step), then runs the same training loop on the active's
    /// decisions — so this node's --out gets the same checkpoints, metrics and plot from that step on — until this node
    /// holds the run (the active was lost, or left); from that step on it coordinates the workers itself.
    /// </summary>
    private static async Task<int> RunStandbyAsync<T>(ParseResult parse, TrainConfig config, RunSettings run, Corpus corpus, string outDir, NodeSecurity security, string activeText, CancellationToken ct)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var endpoints = StandbyEndpoints(activeText);
        var (activeHost, activePort) = endpoints[0];
        var coordinators = endpoints.Select(e => AkkaConfig.CoordinatorAddress(e.Host, e.Port, security.Scheme)).ToList();
        var (host, port) = AkkaConfig.ParseEndpoint(run.Listen!, "--listen");
        Directory.CreateDirectory(outDir);
        using var reporter = new TrainingReporter(parse.GetValue(Json), run.LogEvery, Path.Combine(outDir, TrainingReporter.MetricsName));
        reporter.PlotTitle = PlotTitle(corpus, config);
        var settings = SettingsFor(config, corpus, run, reporter); // once it coordinates: as its own command line says
        reporter.Info($"standby of the coordinator at {activeHost}:{activePort}" + (endpoints.Count > 1 ? $" (then of whichever of {string.Join(", ", endpoints.Skip(1).Select(e => $"{e.Host}:{e.Port}"))} holds the run)" : "") +
            $": joining its run from {host}:{port}, out {outDir}; cluster security: {security.Describe()}");
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct, Cli.Shutdown);
        var clusterHost = ClusterHost<T>.Start(settings, corpus, new ClusterHostOptions
        {
            Host = host,
            Port = port,
            Verbose = parse.GetValue(Options.Verbose),
            Log = reporter.Info,
            Security = security,
            StandbyOf = coordinators,
            Failover = true,
        });
        var node = clusterHost.Coordinator;
        TrainResult? result = null;
        TrainingSession<T>? session = null;
        Failover.StandbySource<T>? source = null;
        try
        {
            var (replica, snapshotTask) = node.Follow(coordinators, reporter.Info, reporter.OnWarning);
            var waited = await Task.WhenAny(snapshotTask, Task.Delay(TimeSpan.FromSeconds(run.WaitTimeout), stop.Token));
            stop.Token.ThrowIfCancellationRequested();
            if (waited != snapshotTask)
                throw new ClusterException($"--standby {activeText}: no state from an active coordinator there within {run.WaitTimeout} s (--wait-timeout); is it running with --listen {activeText}, and with the same --secret-file / TLS?");
            var snapshot = await snapshotTask;
            var checkpoint = Checkpoint.Decode(snapshot.Checkpoint, $"from the active coordinator at {activeText}");
            var theirs = checkpoint.Header.Config;
            foreach (var (option, get, _) in RunDefining().Append((Steps, c => c.Steps, p => p.GetValue(Steps))))
            {
                if (!Equals(get(theirs), get(config)))
                    throw new InputException($"{option.Name} {get(config)}: the active coordinator's run has {get(theirs)}; start the standby with the run's options");
            }
            session = checkpoint.ToSession<T>(corpus, config);
            reporter.Info($"standby: holding the run's state from step {session.Step}; following the active coordinator step by step");
            var runId = snapshot.RunId;
            var s = session;
            source = new Failover.StandbySource<T>(replica, node.Leadership!, (step, last) =>
            {
                clusterHost.TakeOver(runId);
                // before this step's Replicate (the same thread, so the same mailbox order): standbys that followed the
                // lost coordinator alongside this one resume here
                node.Replication!.Tell(new Failover.HoldsRun(runId, step - 1, last), Akka.Actor.ActorRefs.NoSender);
                reporter.Info($"standby: this node holds the run now (the coordinator it followed is gone); coordinating from step {step}, workers re-register here");
                return new Failover.ReplicatingSource<T>(clusterHost.Source, s, runId, node.Replication!, node.ReplicationStatus, run);
            }, config.ShapeFor(corpus.Vocabulary.Size));
            int threads = run.Threads > 0 ? run.Threads : Environment.ProcessorCount;
            result = await RunTrainerAsync(new Trainer<T>(session, source, Kernels.For<T>(session.Params.Shape, config.Dropout), TrainOptionsFor(run, outDir, threads), reporter), outDir, stop.Token);
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            Console.Error.WriteLine("interrupted before the standby had the run's state");
            return Cli.Failure;
        }
        finally
        {
            bool completed = result is { Interrupted: false };
            if (source is { TookOver: true }) await clusterHost.EndRunAsync(completed, completed ? "training finished" : "the coordinator stopped");
            await clusterHost.DisposeAsync();
        }
        return Finish(parse, session!, corpus, outDir, reporter, result);
    }

    /// <summary>--standby's HOST:PORT list: the active coordinator first, then the run's other standbys.</summary>
    private static List<(string Host, int Port)> StandbyEndpoints(string text)
    {
        var endpoints = text.Split(',').Select(e => AkkaConfig.ParseEndpoint(e.Trim(), "--standby")).ToList();
        if (endpoints.Distinct().Count() != endpoints.Count) throw new InputException($"--standby {text}: an address is given twice");
        return endpoints;
    }

    /// <summary>The coordinator's settings from the run's options (the active's and a standby's alike).</summary>
    private static CoordinatorSettings SettingsFor(TrainConfig config, Corpus corpus, RunSettings run, TrainingReporter reporter) =>
        CoordinatorSettings.For(config, corpus) with
        {
            NoWorkerTimeout = TimeSpan.FromSeconds(run.WaitTimeout),
            Backup = run.NoBackupTasks ? () => BackupPolicy.Off : () => BackupPolicy.Default,
            DataPlane = run.DataPlane == "tree" ? DataPlane.Tree : DataPlane.Star,
            Info = reporter.Info,
            Warn = reporter.OnWarning,
        };

    private static string PlotTitle(Corpus corpus, TrainConfig config) =>
        $"{Path.GetFileName(corpus.Name)}: hidden {config.Hidden}, seq {config.Seq}, batch {config.Batch}, {config.Optimizer} lr {config.Lr.ToString(System.Globalization.CultureInfo.InvariantCulture)}, {config.Precision}";

    private static TrainOptions TrainOptionsFor(RunSettings run, string outDir, int threads) => new()
    {
        OutDir = outDir,
        CheckpointEvery = run.CheckpointEvery,
        EvalEvery = run.EvalEvery,
        KeepCheckpoints = run.KeepCheckpoints,
        Parallelism = threads,
        Run = run,
    };

    /// <summary>
    /// A resume from an older checkpoint than the folder's newest starts a new timeline: the later checkpoints
    /// go aside (<see cref="CheckpointStore.SetAsideAfter"/>) with a warning naming them. When best.bin went
    /// with them, the best loss the checkpoint recorded is held by no file any more: the next validation
    /// writes a new best.bin.
    /// </summary>
    private static void SetAsideLaterCheckpoints<T>(TrainingSession<T> session, string outDir) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (folder, moved) = CheckpointStore.SetAsideAfter(outDir, session.Step);
        if (moved.Count == 0) return;
        if (moved.Contains(CheckpointStore.BestName)) session.BestValLoss = double.PositiveInfinity;
        Console.Error.WriteLine($"warning: resuming from step {session.Step}, older than {string.Join(", ", moved)} in {outDir}: moved them to {folder}, so that --resume {outDir} continues this run");
    }

    private static async Task<TrainResult> RunTrainerAsync<T>(Trainer<T> trainer, string outDir, CancellationToken ct)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        try { return await trainer.RunAsync(ct); }
        catch (DivergedException e)
        {
            var last = CheckpointStore.List(outDir).FirstOrDefault().Path;
            throw new DivergedException($"{e.Message}; stopped, the last good checkpoint is {last ?? "none (no checkpoint was written yet)"}");
        }
    }

    private static int Finish<T>(ParseResult parse, TrainingSession<T> session, Corpus corpus, string outDir, TrainingReporter reporter, TrainResult result)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var config = session.Config;
        reporter.Done(result);
        if (result.Interrupted)
        {
            Console.Error.WriteLine($"interrupted at step {result.Step}; continue with: train --resume {outDir}");
            return Cli.Failure;
        }
        if (!parse.GetValue(Json))
        {
            var sample = Inference.Sampler.Sample(session.Params, session.Activation, corpus.Vocabulary,
                corpus.Vocabulary.Contains(new System.Text.Rune('\n')) ? "\n" : corpus.Vocabulary.Symbols[0], 300, 0.8, config.Seed,
                SamplingOptions.From(parse, SampleTopK, SampleTopP));
            Console.WriteLine("--- sample ---");
            Console.WriteLine(DistRnn.Util.ReadableJson.Layout(sample));
        }
        return Cli.Ok;
    }
}
