using System.Collections.Concurrent;
using DistRnn.Configuration;
using DistRnn.Coordinator.Node;
using DistRnn.Coordinator.Training;
using DistRnn.Model;

namespace DistRnn.Tests.Cluster;

/// <summary>
/// The data channels of a real in-process cluster break mid-run (as a failing network would): the coordinator
/// says so, sends what the workers owe again over Akka, and the run ends with the single-process bits.
/// </summary>
public sealed class DataChannelFaultTests
{
    private sealed class AtStep(long step, Action act) : ITrainingObserver
    {
        public void OnStep(StepReport report) { if (report.Step == step) act(); }
        public void OnCheckpoint(string path, long s, bool isBest) { }
        public void OnWarning(string message) { }
    }

    [Fact]
    public async Task Broken_data_channels_mid_run_fall_back_to_Akka_with_the_same_bits()
    {
        var config = new TrainConfig { Hidden = 16, Seq = 12, Batch = 8, Shards = 8, Steps = 6, Seed = 9, Precision = "float32" };
        var corpus = TestUtil.CorpusOf(TestUtil.SmallText());
        var errors = new ConcurrentQueue<string>();
        string expected = await ClusterTraining.TrainAsync<float>(config, corpus, 0, errors);

        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        var warnings = new ConcurrentQueue<string>();
        await using var host = ClusterHost<float>.Start(CoordinatorSettings.For(config, corpus) with { Warn = warnings.Enqueue }, corpus,
            new ClusterHostOptions { LocalWorkers = 2, ThreadsPerWorker = 1, OnSystem = s => ErrorRecorder.Attach(s, errors) });
        await host.WaitForWorkersAsync(2, TimeSpan.FromSeconds(60), _ => { }, timeout.Token);
        var channel = host.Coordinator.Channel!;
        for (var w = System.Diagnostics.Stopwatch.StartNew(); channel.Accepted < 2 && w.Elapsed < TimeSpan.FromSeconds(20);) await Task.Delay(20, timeout.Token);
        Assert.Equal(2, channel.Accepted);

        var session = new TrainingSession<float>(config, corpus);
        var observer = new AtStep(2, () => channel.BreakAll("test: the network failed"));
        var options = new TrainOptions { OutDir = TestUtil.TempDir(), CheckpointEvery = 1000, ValWindows = 4, Parallelism = 2 };
        var result = await new Trainer<float>(session, host.Source, Kernels.Default<float>(), options, observer).RunAsync(timeout.Token);

        Assert.Equal(expected, result.ParamsSha256);
        Assert.Equal(2, await ClusterTraining.WorkersSettleAt(() => host.Source.Workers, 2, TimeSpan.FromSeconds(30))); // nobody was dropped for it
        Assert.Contains(warnings, w => w.Contains("its data channel broke (test: the network failed); its tensors go over Akka"));
        Assert.Empty(errors);
        await host.EndRunAsync(true, "test finished");
    }

    [Fact]
    public async Task After_a_broken_data_channel_the_workers_tensors_take_a_new_one_with_the_same_bits()
    {
        var config = new TrainConfig { Hidden = 16, Seq = 12, Batch = 8, Shards = 8, Steps = 12, Seed = 9, Precision = "float32" };
        var corpus = TestUtil.CorpusOf(TestUtil.SmallText());
        var errors = new ConcurrentQueue<string>();
        string expected = await ClusterTraining.TrainAsync<float>(config, corpus, 0, errors);

        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await using var host = ClusterHost<float>.Start(CoordinatorSettings.For(config, corpus), corpus,
            new ClusterHostOptions { LocalWorkers = 2, ThreadsPerWorker = 1, OnSystem = s => ErrorRecorder.Attach(s, errors) });
        await host.WaitForWorkersAsync(2, TimeSpan.FromSeconds(60), _ => { }, timeout.Token);
        var channel = host.Coordinator.Channel!;
        await Until(() => channel.Accepted >= 2, "both workers' first channels");

        long receivedAfterReconnect = -1;
        var session = new TrainingSession<float>(config, corpus);
        var observer = new AtSteps(new()
        {
            [2] = () => channel.BreakAll("test: the network failed"),
            // results over Akka since the break: each worker is offered a new channel, and takes it
            [6] = () => { Until(() => channel.Accepted >= 4, "both workers' new channels").Wait(); receivedAfterReconnect = channel.Received; },
        });
        var options = new TrainOptions { OutDir = TestUtil.TempDir(), CheckpointEvery = 1000, ValWindows = 4, Parallelism = 2 };
        var result = await new Trainer<float>(session, host.Source, Kernels.Default<float>(), options, observer).RunAsync(timeout.Token);

        Assert.Equal(expected, result.ParamsSha256);
        Assert.True(channel.Accepted >= 4, $"{channel.Accepted} channels accepted");
        Assert.True(channel.Received > receivedAfterReconnect, "no result came over the new channels");
        Assert.Equal(2, await ClusterTraining.WorkersSettleAt(() => host.Source.Workers, 2, TimeSpan.FromSeconds(30)));
        Assert.Empty(errors);
        await host.EndRunAsync(true, "test finished");
    }

    private static async Task Until(Func<bool> condition, string what)
    {
        for (var w = System.Diagnostics.Stopwatch.StartNew(); !condition(); await Task.Delay(20))
            if (w.Elapsed > TimeSpan.FromSeconds(30)) throw new TimeoutException($"no {what} within 30 s");
    }

    private sealed class AtSteps(Dictionary<long, Action> acts) : ITrainingObserver
    {
        public void OnStep(StepReport report) { if (acts.TryGetValue(report.Step, out var act)) act(); }
        public void OnCheckpoint(string path, long s, bool isBest) { }
        public void OnWarning(string message) { }
    }
}
