using System.Collections.Concurrent;
using Akka.Actor;
using DistRnn.Configuration;
using DistRnn.Coordinator.Node;
using DistRnn.Coordinator.Training;
using DistRnn.Model;
using DistRnn.Transport;
using DistRnn.Worker.Node;

namespace DistRnn.Tests.Cluster;

/// <summary>
/// A worker node that dies mid-step without leaving (its actor system stops without the cluster's leave
/// protocol, as a killed process would): the coordinator notices through cluster reachability, hands its
/// subtrees to the others, and the run ends with the same bits as the single-process loop.
/// serialize-messages stays off here: every protocol message crosses the wire between the systems anyway,
/// and Akka.Cluster's own in-process ReachabilityChanged event has no serializer, so with the setting on
/// the split-brain resolver and the cluster's read view never see the node become unreachable.
/// </summary>
public sealed class WorkerLossTests
{
    private sealed class KillAtStep(long step, Action kill) : ITrainingObserver
    {
        public readonly ConcurrentQueue<string> Warnings = new();
        public void OnStep(StepReport report) { if (report.Step == step) kill(); }
        public void OnCheckpoint(string path, long s, bool isBest) { }
        public void OnWarning(string message) => Warnings.Enqueue(message);
    }

    [Fact]
    public async Task A_worker_dying_mid_run_loses_nothing()
    {
        var config = new TrainConfig { Hidden = 16, Seq = 12, Batch = 8, Shards = 8, Steps = 6, Seed = 4, Precision = "float64" };
        var corpus = TestUtil.CorpusOf(TestUtil.SmallText());
        var errors = new ConcurrentQueue<string>();
        string expected = await ClusterTraining.TrainAsync<double>(config, corpus, 0, errors);

        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        var warnings = new ConcurrentQueue<string>();
        await using var host = ClusterHost<double>.Start(CoordinatorSettings.For(config, corpus) with { Warn = warnings.Enqueue }, corpus,
            new ClusterHostOptions { LocalWorkers = 2, ThreadsPerWorker = 1 });
        var victimSystems = new ConcurrentQueue<ActorSystem>();
        var victim = WorkerNode.RunAsync(new WorkerNodeOptions
        {
            Coordinator = AkkaConfig.CoordinatorAddress("127.0.0.1", host.Coordinator.Address.Port!.Value),
            Corpus = corpus,
            Threads = 1,
            Node = "victim",
            GiveUpAfter = TimeSpan.FromSeconds(60),
            // stop like a killed process: no cluster leave, the transport just goes away
            ExtraConfig = "akka.coordinated-shutdown.run-by-actor-system-terminate = off",
            OnSystem = victimSystems.Enqueue,
        }, timeout.Token);
        await host.WaitForWorkersAsync(3, TimeSpan.FromSeconds(60), _ => { }, timeout.Token);

        var session = new TrainingSession<double>(config, corpus);
        var observer = new KillAtStep(2, () => { if (victimSystems.TryPeek(out var s)) _ = s.Terminate(); });
        var options = new TrainOptions { OutDir = TestUtil.TempDir(), CheckpointEvery = 1000, ValWindows = 4, Parallelism = 2 };
        var result = await new Trainer<double>(session, host.Source, Kernels.Default<double>(), options, observer).RunAsync(timeout.Token);

        Assert.Equal(expected, result.ParamsSha256);
        Assert.True(warnings.Any(w => w.Contains("worker victim") && (w.Contains("unreachable") || w.Contains("removed") || w.Contains("stopped"))),
            "no warning about the lost worker:\n" + string.Join("\n", warnings));
        Assert.Contains(warnings, w => w.StartsWith("step 3: its shards go to"));   // lost mid-step, not between steps
        await host.EndRunAsync(true, "test finished");
        Assert.True(await Task.WhenAny(victim, Task.Delay(TimeSpan.FromSeconds(30))) == victim, "the victim's node loop did not end");
    }
}
