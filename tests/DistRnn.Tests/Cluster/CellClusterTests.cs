using System.Collections.Concurrent;
using DistRnn.Configuration;

namespace DistRnn.Tests.Cluster;

/// <summary>
/// Issue 16: the gated and stacked models keep the product's promise: one params_sha256 for 0, 1, 2 and 4 workers,
/// with and without dropout (its masks come from (seed, step, sequence, layer, time), not from who computes a shard),
/// and with --state carry (every layer's h, and lstm's c, travel with the jobs and results).
/// </summary>
public sealed class CellClusterTests
{
    [Theory]
    [InlineData("rnn", 0.0)]
    [InlineData("rnn", 0.3)]
    [InlineData("lstm", 0.0)]
    [InlineData("lstm", 0.3)]
    [InlineData("gru", 0.0)]
    [InlineData("gru", 0.3)]
    [InlineData("lstm", 0.3, "carry")]
    [InlineData("gru", 0.0, "carry")]
    public async Task Params_sha256_is_the_same_for_0_1_2_and_4_workers(string cell, double dropout, string state = "reset")
    {
        var config = new TrainConfig { Hidden = 8, Seq = 10, Batch = 8, Shards = 8, Steps = 3, Seed = 7, Lr = 0.01, Cell = cell, Layers = 2, Dropout = dropout, Precision = "float64", State = state };
        var corpus = TestUtil.CorpusOf(TestUtil.SmallText());
        var errors = new ConcurrentQueue<string>();
        var hashes = new Dictionary<int, string>();
        foreach (int workers in new[] { 0, 1, 2, 4 })
            hashes[workers] = await ClusterTraining.TrainAsync<double>(config, corpus, workers, errors);
        Assert.All(hashes, kv => Assert.Equal(hashes[0], kv.Value));
        Assert.Empty(errors);
        if (dropout > 0)
            Assert.NotEqual(hashes[0], await ClusterTraining.TrainAsync<double>(config with { Dropout = 0 }, corpus, 0, errors));
        if (state == "carry")   // the carried states make a difference (3 steps: windows 2 and 3 start from the last ones)
            Assert.NotEqual(hashes[0], await ClusterTraining.TrainAsync<double>(config with { State = "reset" }, corpus, 0, errors));
    }
}
