using System.Collections.Concurrent;
using DistRnn.Configuration;
using DistRnn.Coordinator.Node;
using DistRnn.Transport;
using DistRnn.Worker.Node;

namespace DistRnn.Tests.Cluster;

/// <summary>
/// Real clusters in this process: a coordinator node and N worker nodes, each its own ActorSystem on
/// 127.0.0.1 (port 0), joined over the same transport and binary serializer as a multi-machine run,
/// with serialize-messages on. The result must have the same bits as the single-process loop.
/// </summary>
public sealed class LocalClusterTests
{
    private static readonly TrainConfig Small = new() { Hidden = 16, Seq = 12, Batch = 8, Shards = 8, Steps = 3, Seed = 5, Lr = 0.01 };

    [Theory]
    [InlineData("float32", "reset")]
    [InlineData("float64", "reset")]
    [InlineData("float32", "carry")]   // the carried states travel with the jobs and results
    [InlineData("float64", "carry")]
    public async Task Params_sha256_is_the_same_for_0_to_4_workers(string precision, string state)
    {
        var config = Small with { Precision = precision, State = state };
        var corpus = TestUtil.CorpusOf(TestUtil.SmallText());
        var errors = new ConcurrentQueue<string>();
        var hashes = new Dictionary<int, string>();
        foreach (int workers in new[] { 0, 1, 2, 3, 4 })
        {
            hashes[workers] = precision == "float32"
                ? await ClusterTraining.TrainAsync<float>(config, corpus, workers, errors)
                : await ClusterTraining.TrainAsync<double>(config, corpus, workers, errors);
        }
        Assert.All(hashes, kv => Assert.Equal(hashes[0], kv.Value));
        Assert.Empty(errors);
    }

    [Fact]
    public async Task A_hidden_1024_float64_model_crosses_the_wire_without_oversized_frames()
    {
        // ~9.5 MB of parameters each way per step, far above Akka's 128 kB default frame.
        var config = new TrainConfig { Hidden = 1024, Seq = 4, Batch = 2, Shards = 2, Steps = 1, Precision = "float64", Seed = 2 };
        var corpus = TestUtil.CorpusOf(TestUtil.SmallText());
        var errors = new ConcurrentQueue<string>();
        string cluster = await ClusterTraining.TrainAsync<double>(config, corpus, 2, errors);
        Assert.Empty(errors);
        Assert.Equal(await ClusterTraining.TrainAsync<double>(config, corpus, 0, errors), cluster);
    }

    [Fact]
    public async Task A_worker_with_another_corpus_is_refused_on_both_sides()
    {
        var corpus = TestUtil.CorpusOf(TestUtil.SmallText());
        var other = TestUtil.CorpusOf(TestUtil.SmallText(41));
        var warnings = new ConcurrentQueue<string>();
        var settings = CoordinatorSettings.For(Small, corpus) with { Warn = warnings.Enqueue };
        await using var host = ClusterHost<float>.Start(settings, corpus, new ClusterHostOptions { LocalWorkers = 0 });
        var log = new ConcurrentQueue<string>();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        int exit = await WorkerNode.RunAsync(new WorkerNodeOptions
        {
            Coordinator = AkkaConfig.CoordinatorAddress("127.0.0.1", host.Coordinator.Address.Port!.Value),
            Corpus = other,
            Threads = 1,
            Log = log.Enqueue,
           
            GiveUpAfter = TimeSpan.FromSeconds(30),
        }, timeout.Token);
        Assert.Equal(WorkerNode.Refused, exit);
        Assert.Contains(log, l => l.Contains("refused by the coordinator") && l.Contains("corpus sha256"));
        Assert.Contains(warnings, w => w.Contains("refused worker") && w.Contains("corpus sha256"));
        Assert.Equal(0, host.Source.Workers);
    }
}
