using System.Collections.Concurrent;
using System.Numerics;
using DistRnn.Configuration;
using DistRnn.Coordinator.Node;
using DistRnn.Coordinator.Training;
using DistRnn.Data;
using DistRnn.Model;
using DistRnn.Worker.Node;

namespace DistRnn.Tests.Cluster;

/// <summary>
/// The tree data plane on real in-process clusters (each worker its own actor system on 127.0.0.1): the workers sum
/// among themselves, chunk by chunk (hidden 240 is two chunks in float32, three in float64), and the run ends with the
/// params_sha256 of the single-process loop (which the star's tests and the golden pins tie to the star) for any number
/// of workers and either precision; with --state carry too (the plan carries the batch's initial states, the sums
/// bring the final ones up the relay).
/// </summary>
public sealed class TreeDataPlaneTests
{
    private static readonly TrainConfig Config = new() { Hidden = 240, Seq = 12, Batch = 16, Shards = 16, Steps = 3, Seed = 9, Lr = 0.01 };
    private readonly Corpus _corpus = TestUtil.CorpusOf(TestUtil.SmallText());

    [Theory]
    [InlineData("float32", 1)] [InlineData("float32", 2)] [InlineData("float32", 3)] [InlineData("float32", 4)] [InlineData("float32", 8)]
    [InlineData("float64", 1)] [InlineData("float64", 2)] [InlineData("float64", 3)] [InlineData("float64", 4)] [InlineData("float64", 8)]
    [InlineData("float32", 3, "carry")] [InlineData("float32", 8, "carry")] [InlineData("float64", 2, "carry")] [InlineData("float64", 4, "carry")]
    public async Task A_tree_run_has_the_single_process_bits_for_any_number_of_workers(string precision, int workers, string state = "reset")
    {
        var config = Config with { Precision = precision, State = state };
        if (precision == "float32") Assert.Equal(await Single<float>(config), await Tree<float>(config, workers));
        else Assert.Equal(await Single<double>(config), await Tree<double>(config, workers));
    }

    /// <summary>
    /// A step's carried states beside the parameters in one message: float64, 64 sequences of hidden 240 are 123 kB of
    /// states, more than a frame's room besides its tensor. Every frame is sized for both (TrainConfig.WireValues), so no
    /// data channel breaks, on either data plane.
    /// </summary>
    [Theory]
    [InlineData(DataPlane.Tree)]
    [InlineData(DataPlane.Star)]
    public async Task Large_carried_states_fit_the_frames_of_either_data_plane(DataPlane plane)
    {
        var config = Config with { Precision = "float64", State = "carry", Batch = 64, Steps = 2 };
        Assert.True(config.Batch * config.ShapeFor(_corpus.Vocabulary.Size).StateSize * 8 > Transport.DataChannel.DataFrame.OverheadBytes);
        Assert.Equal(await Single<double>(config), await Tree<double>(config, 2, plane));
    }

    private Task<string> Single<T>(TrainConfig config) where T : unmanaged, IFloatingPointIeee754<T> =>
        ClusterTraining.TrainAsync<T>(config, _corpus, 0, new ConcurrentQueue<string>());

    private async Task<string> Tree<T>(TrainConfig config, int workers, DataPlane plane = DataPlane.Tree) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Assert.True(DistRnn.Reduction.ChunkLayout.For(new ModelShape(_corpus.Vocabulary.Size, config.Hidden).Count, Protocol.TensorPayload.PrecisionBytes<T>()).Count > 1,
            "the model should be more than one chunk");
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        var observer = new NullObserver();
        await using var host = ClusterHost<T>.Start(CoordinatorSettings.For(config, _corpus) with { Warn = observer.OnWarning, DataPlane = plane }, _corpus,
            new ClusterHostOptions { LocalWorkers = workers, ThreadsPerWorker = 1 });
        await host.WaitForWorkersAsync(workers, TimeSpan.FromSeconds(60), _ => { }, timeout.Token);
        var session = new TrainingSession<T>(config, _corpus);
        var options = new TrainOptions { OutDir = TestUtil.TempDir(), CheckpointEvery = 1000, ValWindows = 4, Parallelism = 2 };
        var result = await new Trainer<T>(session, host.Source, Kernels.Default<T>(), options, observer).RunAsync(timeout.Token);
        Assert.False(result.Interrupted);
        // the root's chunks came over the root owner's data channel (on the tree nothing else comes in on it)
        Assert.True(host.Coordinator.Channel!.Received > 0, "no root chunk came over the data channel");
        await host.EndRunAsync(true, "test finished");
        Assert.All(host.LocalWorkers, w => Assert.True(w.IsCompletedSuccessfully && w.Result == WorkerNode.Ok, "a local worker did not exit 0"));
        Assert.DoesNotContain(observer.Warnings, w => w.Contains("refused") || w.Contains("ignored") || w.Contains("data channel broke"));
        return result.ParamsSha256;
    }
}
