using System.Collections.Concurrent;

namespace DistRnn.Tests.MultiProcess;

/// <summary>
/// Starts the pieces of a multi-process run — coordinator, workers, failure-free reference runs — with the
/// small model every fault test trains, and owns them: disposing kills whatever still runs and removes the
/// run folders.
/// </summary>
internal sealed class ProcessCluster : IDisposable
{
    /// <summary>
    /// Small and quick (hidden 48, 16 shards of 4 sequences): the tests are about who computes what, not about
    /// the model. A failure-free single-process run gives the reference bits (equal whatever the workers).
    /// </summary>
    public static readonly string[] Model =
        ["--hidden", "48", "--seq", "48", "--batch", "64", "--shards", "16", "--seed", "11", "--optimizer", "adam", "--lr", "0.01"];

    private static readonly ConcurrentDictionary<string, Lazy<string>> References = new();
    private readonly List<NodeProcess> _processes = new();
    private readonly string[] _model;
    private int _workers;

    /// <param name="model">the model options of every run of this cluster and of its reference (default <see cref="Model"/>)</param>
    /// <param name="env">environment variables of every node of the cluster (not of its reference run)</param>
    public ProcessCluster(string host = "127.0.0.1", string[]? model = null, IReadOnlyDictionary<string, string>? env = null)
    {
        _env = env;
        Host = host;
        _model = model ?? Model;
        Dir = TestUtil.TempDir();
        Port = FreePort(host);
        // beyond loopback a node without a secret (or TLS) refuses to start: such a cluster has one, as deployments do
        if (!DistRnn.Security.NodeSecurity.IsLoopback(host))
        {
            var secret = Path.Combine(Dir, "cluster.secret");
            File.WriteAllText(secret, Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)) + "\n");
            if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(secret, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            _security = ["--secret-file", secret];
        }
    }

    private readonly string[] _security = [];
    private readonly IReadOnlyDictionary<string, string>? _env;

    public string Host { get; }
    public int Port { get; }
    public string Listen => $"{Host}:{Port}";
    public string Dir { get; }
    public string RunDir => Path.Combine(Dir, "run");

    /// <summary>
    /// A TCP port that is free on <paramref name="address"/> now, for a program started next to bind. It is drawn from
    /// the ports just below the kernel's ephemeral range (/proc/sys/net/ipv4/ip_local_port_range), which no bind to port
    /// 0 and no outgoing connection's source port ever takes — the other tests' nodes and connections use the ephemeral
    /// range all the time, and one of them could take a port handed out here before its program bound it, and the
    /// run would fail to start. Never the same port twice in this test process. Another program could still bind it in between; the
    /// failure would be loud (the coordinator says it cannot listen there, exit 2).
    /// </summary>
    public static int FreePort(string address = "127.0.0.1")
    {
        var ip = System.Net.IPAddress.Parse(address);
        int ephemeralStart = EphemeralStart();
        int lo = Math.Max(1024, ephemeralStart - 12_000);
        for (int attempt = 0; attempt < 500; attempt++)
        {
            int port = Random.Shared.Next(lo, ephemeralStart);
            lock (HandedOut) if (!HandedOut.Add(port)) continue;
            var l = new System.Net.Sockets.TcpListener(ip, port);
            try { l.Start(); return port; }
            catch (System.Net.Sockets.SocketException) { /* in use: draw again */ }
            finally { l.Stop(); }
        }
        throw new InvalidOperationException($"no free port on {address} in {lo}..{ephemeralStart - 1} after 500 draws");
    }

    private static readonly HashSet<int> HandedOut = new();

    /// <summary>The first port of the kernel's ephemeral range (32768, Linux's default, where it cannot be read).</summary>
    private static int EphemeralStart()
    {
        try
        {
            var first = File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range").Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries)[0];
            return int.Parse(first, System.Globalization.CultureInfo.InvariantCulture) is var p && p > 2048 ? p : 32768;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException) { return 32768; }
    }

    /// <summary>Starts the coordinator and waits until it accepts connections (so workers join at once rather than after a retry).</summary>
    public NodeProcess Coordinator(long steps, int minWorkers, int waitTimeout = 90, params string[] extra)
    {
        var args = new List<string> { "train" };
        args.AddRange(_model);
        args.AddRange(["--steps", steps.ToString(), "--workers", "0", "--listen", Listen, "--min-workers", minWorkers.ToString(),
            "--wait-timeout", waitTimeout.ToString(), "--out", RunDir, "--json", "--eval-every", "100000"]);
        args.AddRange(_security);
        args.AddRange(extra);
        return WhenListening(Track(NodeProcess.Start("coordinator", Executables.Coordinator, args, _env)));
    }

    /// <summary>A coordinator continuing the run from its folder, at the same address.</summary>
    public NodeProcess ResumedCoordinator(int minWorkers, params string[] extra)
    {
        var args = new List<string> { "train", "--resume", RunDir, "--workers", "0", "--listen", Listen, "--min-workers", minWorkers.ToString(),
            "--wait-timeout", "90", "--json", "--eval-every", "100000" };
        args.AddRange(_security);
        args.AddRange(extra);
        return WhenListening(Track(NodeProcess.Start("coordinator (resumed)", Executables.Coordinator, args, _env)));
    }

    /// <summary>Where <see cref="Standby"/> listens, and its output folder (docs/failover.md).</summary>
    public string StandbyListen => StandbyListenAt(1);
    public string StandbyDir => StandbyDirAt(1);

    /// <summary>Where the <paramref name="n"/>-th standby (<see cref="StandbyAt"/>) listens, and its output folder.</summary>
    public string StandbyListenAt(int n) => $"{Host}:{StandbyPort(n)}";
    public string StandbyDirAt(int n) => Path.Combine(Dir, n == 1 ? "standby" : $"standby{n}");
    private readonly ConcurrentDictionary<int, int> _standbyPorts = new();
    private int StandbyPort(int n) => _standbyPorts.GetOrAdd(n, _ => FreePort());

    /// <summary>A standby of <see cref="Coordinator"/>: the same model and steps, its own address and folder.</summary>
    public NodeProcess Standby(long steps, int waitTimeout = 90, params string[] extra) => StandbyAt(1, [Listen], steps, waitTimeout, extra);

    /// <summary>The <paramref name="n"/>-th standby, following the coordinators at <paramref name="coordinators"/> (its --standby list).</summary>
    public NodeProcess StandbyAt(int n, IEnumerable<string> coordinators, long steps, int waitTimeout = 90, params string[] extra)
    {
        var args = new List<string> { "train" };
        args.AddRange(_model);
        args.AddRange(["--steps", steps.ToString(), "--workers", "0", "--listen", StandbyListenAt(n), "--standby", string.Join(",", coordinators),
            "--wait-timeout", waitTimeout.ToString(), "--out", StandbyDirAt(n), "--json", "--eval-every", "100000"]);
        args.AddRange(_security);
        args.AddRange(extra);
        return WhenListening(Track(NodeProcess.Start(n == 1 ? "standby" : $"standby {n}", Executables.Coordinator, args, _env)), StandbyPort(n));
    }

    /// <summary>A worker that joins the coordinator and its standby (--join A,B).</summary>
    public NodeProcess WorkerOfBoth(double slowdown = 1, params string[] extra) => Worker(slowdown, join: $"{Listen},{StandbyListen}", extra: extra);

    private NodeProcess WhenListening(NodeProcess coordinator, int? port = null)
    {
        int at = port ?? Port;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (true)
        {
            try
            {
                using var probe = new System.Net.Sockets.TcpClient();
                probe.Connect(Host, at);
                return coordinator;
            }
            catch (System.Net.Sockets.SocketException) { }
            if (coordinator.HasExited) throw new InvalidOperationException($"the {coordinator.Name} ended before it listened on {Host}:{at}\n{coordinator.Tail()}");
            if (clock.Elapsed > TimeSpan.FromSeconds(60)) throw new TimeoutException($"the {coordinator.Name} did not listen on {Host}:{at} within 60 s\n{coordinator.Tail()}");
            Thread.Sleep(100);
        }
    }

    /// <param name="slowdown">the hidden test knob: each leaf takes this many times its compute time</param>
    /// <param name="netns">run inside this network namespace, binding <paramref name="bindHost"/></param>
    /// <param name="giveUpAfter">seconds without a coordinator before the worker gives up (exit 1)</param>
    /// <param name="join">the --join addresses (default: this cluster's coordinator)</param>
    public NodeProcess Worker(double slowdown = 1, string? netns = null, string? bindHost = null, int giveUpAfter = 120, string? join = null, params string[] extra)
    {
        int n = Interlocked.Increment(ref _workers);
        var args = new List<string> { "--join", join ?? Listen, "--threads", "1", "--give-up-after", giveUpAfter.ToString() };
        if (slowdown != 1) args.AddRange(["--slowdown", slowdown.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        if (bindHost is not null) args.AddRange(["--host", bindHost]);
        args.AddRange(_security);
        args.AddRange(extra);
        return Track(NodeProcess.Start($"worker {n}", Executables.Worker, args, _env, through: netns is null ? null : ["ip", "netns", "exec", netns]));
    }

    /// <summary>params_sha256 after <paramref name="steps"/> steps of this cluster's model without any cluster (computed once per model and step count).</summary>
    public string Reference(long steps) =>
        References.GetOrAdd($"{string.Join(' ', _model)} --steps {steps}", _ => new Lazy<string>(() => RunReference(_model, steps))).Value;

    private static string RunReference(string[] model, long steps)
    {
        var dir = TestUtil.TempDir();
        try
        {
            var args = new List<string> { "train" };
            args.AddRange(model);
            args.AddRange(["--steps", steps.ToString(), "--workers", "0", "--threads", "1", "--out", Path.Combine(dir, "ref"), "--json",
                "--eval-every", "100000", "--checkpoint-every", "100000"]);
            using var p = NodeProcess.Start($"reference ({steps} steps)", Executables.Coordinator, args);
            int code = p.WaitForExit(TimeSpan.FromMinutes(3));
            Assert.True(code == 0, $"the reference run failed\n{p.Tail()}");
            return TrainEvents.ParamsSha256(p);
        }
        finally { TryDelete(dir); }
    }

    /// <summary>A program with exactly these arguments (nothing of this cluster's added), owned like the others.</summary>
    public NodeProcess Program(string name, string dll, params string[] args) => Track(NodeProcess.Start(name, dll, args));

    private NodeProcess Track(NodeProcess p)
    {
        lock (_processes) _processes.Add(p);
        return p;
    }

    /// <summary>Runs the test body; a failure reports what every process of the run said.</summary>
    public void Explain(Action body)
    {
        try { body(); }
        catch (Exception e)
        {
            throw new Xunit.Sdk.XunitException($"{e.GetType().Name}: {e.Message}\n{Tails()}");
        }
    }

    /// <summary>Everything every process said, for a failure message.</summary>
    public string Tails()
    {
        lock (_processes) return string.Join("\n", _processes.Select(p => p.Tail(60)));
    }

    public void Dispose()
    {
        lock (_processes)
        {
            foreach (var p in _processes) p.Dispose();
            // DISTRNN_TEST_LOGS=DIR keeps every process's whole output (to look at a passing run too)
            if (Environment.GetEnvironmentVariable("DISTRNN_TEST_LOGS") is { Length: > 0 } logs)
            {
                Directory.CreateDirectory(logs);
                File.WriteAllText(Path.Combine(logs, $"{DateTime.UtcNow:HHmmss}-{Path.GetFileName(Dir)[..8]}.log"),
                    string.Join("\n\n", _processes.Select(p => p.Tail(int.MaxValue))));
            }
        }
        TryDelete(Dir);
    }

    private static void TryDelete(string dir)
    {
        try { Directory.Delete(dir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}

/// <summary>Multi-process tests run one at a time: each starts several processes on a small machine.</summary>
[CollectionDefinition("MultiProcess", DisableParallelization = true)]
public sealed class MultiProcessCollection;
