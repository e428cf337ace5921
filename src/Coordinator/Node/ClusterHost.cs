using System.Numerics;
using Akka.Actor;
using DistRnn.Data;
using DistRnn.Security;
using DistRnn.Transport;
using DistRnn.Transport.Bootstrap;
using DistRnn.Worker.Node;

namespace DistRnn.Coordinator.Node;

public sealed record ClusterHostOptions
{
    /// <summary>Worker nodes started in this process, each its own actor system joined over loopback.</summary>
    public int LocalWorkers { get; init; }
    /// <summary>Threads of each local worker (0 = the machine's cores shared among them).</summary>
    public int ThreadsPerWorker { get; init; }
    /// <summary>Where the coordinator listens (remote workers join here); port 0 = any free port.</summary>
    public string Host { get; init; } = "127.0.0.1";
    public int Port { get; init; }
    public bool Verbose { get; init; }
    public Action<string> Log { get; init; } = _ => { };
    public Action<ActorSystem>? OnSystem { get; init; }
    /// <summary>TLS of every node (local workers use this process's certificate) and the shared secret they prove.</summary>
    public NodeSecurity Security { get; init; } = NodeSecurity.None;
    /// <summary>Cluster Bootstrap instead of forming the cluster as its first member (<c>--discovery</c>).</summary>
    public ClusterDiscovery? Discovery { get; init; }
    /// <summary>Take part in the election of the active coordinator and replicate to standbys (a coordinator that listens: docs/failover.md).</summary>
    public bool Failover { get; init; }
    /// <summary>A standby's --standby: the coordinators (the active first) whose cluster it joins (no local workers then).</summary>
    public IReadOnlyList<Address>? StandbyOf { get; init; }
}

/// <summary>
/// A coordinator node plus N local worker nodes in this process — `train --workers N` — all on the same
/// transport, serializer and cluster as a multi-machine run. Disposing ends the run for every worker.
/// </summary>
public sealed class ClusterHost<T> : IAsyncDisposable where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly CancellationTokenSource _stopWorkers = new();
    private readonly List<Task<int>> _workers = new();
    private bool _ended;

    /// <summary>The coordinator's settings with this host's security (what it coordinates with, once it does).</summary>
    private readonly CoordinatorSettings _settings;

    private ClusterHost(CoordinatorNode<T> coordinator, CoordinatorSettings settings)
    {
        Coordinator = coordinator;
        _settings = settings;
    }

    public CoordinatorNode<T> Coordinator { get; }
    public ClusterGradientSource<T> Source => Coordinator.Source;
    public IReadOnlyList<Task<int>> LocalWorkers => _workers;

    public static ClusterHost<T> Start(CoordinatorSettings settings, Corpus corpus, ClusterHostOptions o)
    {
        if (o.StandbyOf is not null && o.LocalWorkers > 0) throw new ArgumentException("a standby coordinator starts no local workers", nameof(o));
        settings = settings with { Secret = settings.Secret ?? o.Security.Secret, Tls = settings.Tls ?? o.Security.Tls };
        var coordinator = CoordinatorNode<T>.Start(settings, o.Host, o.Port, o.Verbose, o.Security, o.StandbyOf, o.Failover, o.Discovery);
        o.OnSystem?.Invoke(coordinator.System);
        var host = new ClusterHost<T>(coordinator, settings);
        int threads = o.ThreadsPerWorker > 0 ? o.ThreadsPerWorker : Math.Max(1, Environment.ProcessorCount / Math.Max(1, o.LocalWorkers));
        var seed = AkkaConfig.CoordinatorAddress(coordinator.Address.Host!, coordinator.Address.Port!.Value, o.Security.Scheme);
        int wireValues = settings.Config.WireValues(settings.VocabSize);
        for (int i = 0; i < o.LocalWorkers; i++)
        {
            var options = new WorkerNodeOptions
            {
                Coordinator = seed,
                Corpus = corpus,
                Threads = threads,
                Host = "127.0.0.1",
                Node = $"local-{i + 1}",
                Verbose = o.Verbose,
                AttemptTimeout = TimeSpan.FromSeconds(20),
                GiveUpAfter = TimeSpan.FromMinutes(2),
                Log = o.Verbose ? o.Log : _ => { },
                OnSystem = o.OnSystem,
                Security = o.Security,
                MaxTensorValues = wireValues,
            };
            host._workers.Add(Task.Run(() => WorkerNode.RunAsync(options, host._stopWorkers.Token)));
        }
        return host;
    }

    /// <summary>A standby takes the run <paramref name="runId"/> over: it starts coordinating the workers.</summary>
    public void TakeOver(string runId) => Coordinator.Activate(_settings with { RunId = runId });

    public Task<int> WaitForWorkersAsync(int minimum, TimeSpan timeout, Action<string> progress, CancellationToken ct, bool remote = true)
        => Coordinator.WaitForWorkersAsync(minimum, timeout, progress, ct, remote);

    /// <summary>Tells all workers (local and remote) that the run is over; local ones exit.</summary>
    public async Task EndRunAsync(bool completed, string reason)
    {
        if (_ended) return;
        _ended = true;
        await Coordinator.EndRunAsync(completed, reason).ConfigureAwait(false);
        if (!completed) _stopWorkers.Cancel(); // local workers must not wait for a coordinator that will not return
        await Task.WhenAny(Task.WhenAll(_workers), Task.Delay(TimeSpan.FromSeconds(15))).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        if (!_ended) await EndRunAsync(false, "the coordinator stopped").ConfigureAwait(false);
        _stopWorkers.Cancel();
        await Task.WhenAny(Task.WhenAll(_workers), Task.Delay(TimeSpan.FromSeconds(15))).ConfigureAwait(false);
        await Coordinator.DisposeAsync().ConfigureAwait(false);
        _stopWorkers.Dispose();
    }
}
