using System.Diagnostics;
using System.Threading.Channels;
using Akka.Actor;
using DistRnn.Data;
using DistRnn.Security;
using DistRnn.Transport;
using DistRnn.Transport.Bootstrap;
using DistRnn.Util;

namespace DistRnn.Worker.Node;

public sealed record WorkerNodeOptions
{
    /// <summary>The coordinator's cluster address (its --listen HOST:PORT); null when the node finds the cluster through <see cref="Discovery"/>.</summary>
    public Address? Coordinator { get; init; }
    /// <summary>Its standby coordinators (--join's further addresses, docs/failover.md): seeds too, and followed when it is gone.</summary>
    public IReadOnlyList<Address> Standbys { get; init; } = [];
    /// <summary>Cluster Bootstrap instead of seeds (<c>--discovery</c>): exactly one of this and <see cref="Coordinator"/>.</summary>
    public ClusterDiscovery? Discovery { get; init; }
    public required Corpus Corpus { get; init; }
    public int Threads { get; init; } = Environment.ProcessorCount;
    /// <summary>Test knob: every leaf takes this many times its compute time (1 = full speed).</summary>
    public double Slowdown { get; init; } = 1;
    /// <summary>Address this node binds and advertises (the coordinator must reach it there).</summary>
    public string Host { get; init; } = "127.0.0.1";
    public int Port { get; init; }
    public string? Node { get; init; }
    public bool Verbose { get; init; }
    /// <summary>How long the first attempt waits for registration before starting over (later ones wait longer, up to <see cref="MaxBackoff"/>).</summary>
    public TimeSpan AttemptTimeout { get; init; } = TimeSpan.FromSeconds(5);
    public TimeSpan MaxBackoff { get; init; } = TimeSpan.FromSeconds(30);
    /// <summary>Give up (exit 1) after this long without a coordinator; null = keep trying.</summary>
    public TimeSpan? GiveUpAfter { get; init; }
    /// <summary>Where the node says what it does (registered, retrying, refused, run over).</summary>
    public Action<string> Log { get; init; } = _ => { };
    /// <summary>Shared secret and TLS of this node (the coordinator's must match).</summary>
    public NodeSecurity Security { get; init; } = NodeSecurity.None;
    /// <summary>
    /// The model size this node's frames and tensor limit start at: known beforehand for local workers; null for a remote
    /// worker, which starts at <see cref="AkkaConfig.WorkerFrameValues"/> and, when the run's model is larger, starts again
    /// with frames for it (before authentication an unknown peer could make it buffer up to one frame per connection).
    /// </summary>
    public int? MaxTensorValues { get; init; }
    /// <summary>HOCON layered over the node's configuration (tests: e.g. a node that dies without leaving).</summary>
    public string? ExtraConfig { get; init; }
    /// <summary>Called with every actor system the node creates (tests attach log listeners).</summary>
    public Action<ActorSystem>? OnSystem { get; init; }
    /// <summary>This node's numbers for --metrics, or null.</summary>
    public Metrics.WorkerMetrics? Metrics { get; init; }
}

/// <summary>
/// A worker node's life: create an actor system, join the coordinator, register, compute until the run
/// ends. When the coordinator cannot be reached, is lost, or stops early, the node throws its actor system
/// away and tries again with a fresh one after a growing pause (a downed or partitioned Akka node cannot
/// rejoin with its old system). Exit codes: 0 the run ended (or the node was asked to stop), 2 refused by
/// the coordinator, 1 gave up.
/// </summary>
public static class WorkerNode
{
    public const int Ok = 0, GaveUp = 1, Refused = 2;

    public static async Task<int> RunAsync(WorkerNodeOptions o, CancellationToken ct)
    {
        var backoff = TimeSpan.FromSeconds(1);
        // bootstrap first waits for discovery to be stable and the contact points to answer: give an attempt that long
        var firstAttempt = o.Discovery is null ? o.AttemptTimeout : TimeSpan.FromTicks(Math.Max(o.AttemptTimeout.Ticks, BootstrapAttempt.Ticks));
        var attemptTimeout = firstAttempt;
        var withoutCoordinator = Stopwatch.StartNew();
        if ((o.Coordinator is null) == (o.Discovery is null)) throw new ArgumentException("a worker node needs either the coordinator's address or discovery", nameof(o));
        Address[] seeds = o.Coordinator is { } first ? [first, .. o.Standbys] : [];
        string target = seeds.Length > 0 ? string.Join(",", seeds.Select(a => $"{a.Host}:{a.Port}")) : $"{o.Discovery!.Method.ToString().ToLowerInvariant()} discovery's cluster";
        var pin = seeds.Length > 0 ? CoordinatorPin.For(seeds)
            : CoordinatorPin.OnHosts(o.Discovery!.Method == DiscoveryMethod.Config ? o.Discovery.ContactPoints.Select(p => p.Host).Distinct() : null);
        int frameValues = o.MaxTensorValues ?? AkkaConfig.WorkerFrameValues;
        // one management endpoint for the node's life (its port must not change between the node's actor systems)
        await using var management = o.Discovery is null ? null : await o.Discovery.ServeAsync().ConfigureAwait(false);
        for (int attempt = 1; ; attempt++)
        {
            if (ct.IsCancellationRequested) return Ok;
            var events = System.Threading.Channels.Channel.CreateUnbounded<WorkerEvent>();
            string? extra = string.Join('\n', new[] { AkkaConfig.TensorLimit(frameValues), o.Discovery?.Hocon(), o.ExtraConfig }.Where(x => x is not null));
            // the node at --join answering the secret's handshake with another secret's proof is a configuration error: say so and stop
            var system = o.Security.CreateSystem(AkkaConfig.SystemName, AkkaConfig.Node(AkkaConfig.WorkerRole, o.Host, o.Port, o.Verbose,
                extra: extra.Length > 0 ? extra : null), r =>
                {
                    if (r.WrongSecret && seeds.Any(c => r.Peer.Host == c.Host && r.Peer.Port == c.Port))
                        events.Writer.TryWrite(new WorkerEvent.Refused("it does not prove this run's secret: check --secret-file on both sides (the same file)"));
                });
            o.OnSystem?.Invoke(system);
            string node = o.Node ?? $"{Environment.MachineName}/{Environment.ProcessId}@{AkkaConfig.BoundAddress(system).Port}";
            var actor = system.ActorOf(Props.Create(() => new WorkerActor(new WorkerSettings(o.Corpus, o.Threads, node, pin, frameValues, o.Security.Secret, o.Slowdown, o.Security.Tls, o.Metrics), e => events.Writer.TryWrite(e))),
                AkkaConfig.WorkerActorName);
            var health = NodeHealth.Get(system);
            health.Ready("not registered with a coordinator");
            string? retryReason = null;
            if (management is not null) await management.BootstrapAsync(system).ConfigureAwait(false);
            else Akka.Cluster.Cluster.Get(system).JoinSeedNodes(seeds);

            bool registered = false;
            var attemptClock = Stopwatch.StartNew();
            try
            {
                while (retryReason is null)
                {
                    var attemptLimit = attemptTimeout;
                    if (o.GiveUpAfter is TimeSpan g && g - withoutCoordinator.Elapsed < attemptLimit - attemptClock.Elapsed)
                        attemptLimit = g - withoutCoordinator.Elapsed + attemptClock.Elapsed;
                    var wait = registered ? Timeout.InfiniteTimeSpan : attemptLimit - attemptClock.Elapsed;
                    if (!registered && wait <= TimeSpan.Zero)
                    {
                        retryReason = $"cannot reach the coordinator at {target} (attempt {attempt}){TransportHint(system)}";
                        break;
                    }
                    var next = events.Reader.ReadAsync(ct).AsTask();
                    var finished = await Task.WhenAny(next, system.WhenTerminated, Task.Delay(wait, ct)).ConfigureAwait(false);
                    if (ct.IsCancellationRequested) break;
                    if (finished == system.WhenTerminated) { retryReason = "this node was removed from the cluster"; break; }
                    if (finished != next) continue;
                    switch (await next.ConfigureAwait(false))
                    {
                        case WorkerEvent.Registered r:
                            registered = true;
                            health.Ready(null);
                            o.Metrics?.Registered(true);
                            backoff = TimeSpan.FromSeconds(1);
                            attemptTimeout = firstAttempt;
                            o.Log($"registered with the coordinator at {target} as {node} ({r.Workers} worker{(r.Workers == 1 ? "" : "s")})");
                            break;
                        case WorkerEvent.Refused r:
                            o.Log($"error: refused by the coordinator at {target}: {r.Reason}");
                            await StopAsync(system, graceful: true).ConfigureAwait(false);
                            return Refused;
                        case WorkerEvent.RunEnded r:
                            await StopAsync(system, graceful: true).ConfigureAwait(false);
                            if (r.Completed)
                            {
                                o.Log($"the run is complete ({r.Reason}); exiting");
                                return Ok;
                            }
                            retryReason = $"the coordinator stopped the run early ({r.Reason}); waiting for it to come back";
                            break;
                        case WorkerEvent.CoordinatorLost r:
                            retryReason = $"lost the coordinator ({r.Why})";
                            break;
                        case WorkerEvent.NeedsLargerFrames f:
                            retryReason = $"the run's model has {f.Values} values, more than this node's frames were made for ({frameValues}); starting again with frames for it";
                            frameValues = f.Values;
                            break;
                        case WorkerEvent.Note n:
                            o.Log(n.Message);
                            break;
                    }
                }
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested) { }
            o.Metrics?.Registered(false);

            if (ct.IsCancellationRequested)
            {
                // Ctrl+C / SIGTERM: hand the work back at once, then leave the cluster properly.
                try { await actor.Ask<Left>(new LeaveRun("stopped by the user"), TimeSpan.FromSeconds(2)).ConfigureAwait(false); } catch { }
                await StopAsync(system, graceful: true).ConfigureAwait(false);
                o.Log("left the cluster");
                return Ok;
            }
            await StopAsync(system, graceful: registered).ConfigureAwait(false);
            if (registered) withoutCoordinator.Restart();
            if (o.GiveUpAfter is TimeSpan limit && withoutCoordinator.Elapsed >= limit)
            {
                o.Log($"error: {retryReason}; giving up after {withoutCoordinator.Elapsed.TotalSeconds:F0} s");
                return GaveUp;
            }
            o.Log($"{retryReason}; retrying in {backoff.TotalSeconds:F0} s");
            try { await Task.Delay(backoff, ct).ConfigureAwait(false); } catch (OperationCanceledException) { return Ok; }
            backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, o.MaxBackoff.Ticks));
            attemptTimeout = TimeSpan.FromTicks(Math.Min(attemptTimeout.Ticks * 2, Math.Max(firstAttempt.Ticks, o.MaxBackoff.Ticks)));
        }
    }

    /// <summary>Why the secret's handshake failed, when it did: a wrong --secret-file shows here, not as a silence.</summary>
    private static string TransportHint(ActorSystem system) =>
        NodeSecurity.Authentication(system)?.LastRefusal is string why
            ? $"; the secret's handshake failed: {Printable.Of(why, Printable.LineLength)} (is --secret-file the same file as the coordinator's?)"
            : "";

    private static async Task StopAsync(ActorSystem system, bool graceful)
    {
        if (graceful && !system.WhenTerminated.IsCompleted)
        {
            var leave = CoordinatedShutdown.Get(system).Run(CoordinatedShutdown.ClusterLeavingReason.Instance);
            await Task.WhenAny(leave, Task.Delay(TimeSpan.FromSeconds(8))).ConfigureAwait(false);
        }
        await Task.WhenAny(system.Terminate(), Task.Delay(TimeSpan.FromSeconds(8))).ConfigureAwait(false);
    }

    /// <summary>How long a first attempt through discovery waits for registration.</summary>
    public static readonly TimeSpan BootstrapAttempt = TimeSpan.FromSeconds(30);
}
