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
/// protocol, as a killed process would): the coordinator notices (its data channel breaking, reachability or
/// the step deadline, whichever comes first), hands its subtrees to the others, drops it, and the run ends
/// with the same bits as the single-process loop.
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

    [Theory]
    [InlineData("rnn", 1, 0.0)]
    [InlineData("lstm", 2, 0.3)]
    [InlineData("gru", 2, 0.3)]
    public async Task A_worker_dying_mid_run_loses_nothing(string cell, int layers, double dropout)
    {
        var config = new TrainConfig { Hidden = 16, Seq = 12, Batch = 8, Shards = 8, Steps = 6, Seed = 4, Precision = "float64", Cell = cell, Layers = layers, Dropout = dropout };
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
        var result = await new Trainer<double>(session, host.Source, Kernels.For<double>(session.Params.Shape, dropout), options, observer).RunAsync(timeout.Token);

        // its work was done by the others (whichever signal told the coordinator first: the broken data
        // channel, reachability, the step deadline), so the bits are those of the single-process loop
        Assert.False(result.Interrupted);
        Assert.Equal(expected, result.ParamsSha256);
        // and the dead worker is dropped (bounded: reachability and the split-brain resolver take seconds)
        int workers = await ClusterTraining.WorkersSettleAt(() => host.Source.Workers, 2, TimeSpan.FromSeconds(60));
        Assert.True(workers == 2, $"{workers} workers registered, expected the 2 survivors:\n" + string.Join("\n", warnings));
        await host.EndRunAsync(true, "test finished");
        Assert.True(await Task.WhenAny(victim, Task.Delay(TimeSpan.FromSeconds(30))) == victim, "the victim's node loop did not end");
    }
}
