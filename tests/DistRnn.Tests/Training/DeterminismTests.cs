using DistRnn.Compute;
using DistRnn.Configuration;
using DistRnn.Coordinator.Checkpoints;
using DistRnn.Coordinator.Training;
using DistRnn.Model;

namespace DistRnn.Tests.Training;

public class DeterminismTests
{
    private static readonly TrainConfig Config = new() { Hidden = 16, Seq = 12, Batch = 8, Steps = 30, Seed = 5, Shards = 4 };

    private sealed class NullObserver : ITrainingObserver
    {
        public List<string> Warnings { get; } = [];
        public void OnStep(StepReport report) { }
        public void OnCheckpoint(string path, long step, bool isBest) { }
        public void OnWarning(string message) => Warnings.Add(message);
    }

    private static async Task<TrainResult> Run<T>(TrainingSession<T> session, string outDir, int threads, int checkpointEvery = 10) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        var kernel = Kernels.Default<T>();
        using var computer = new SubtreeComputer<T>(kernel, threads);
        var source = new LocalGradientSource<T>(computer, session.Activation, session.Corpus.Tokens, session.ShardCount);
        var trainer = new Trainer<T>(session, source, kernel, new TrainOptions { OutDir = outDir, CheckpointEvery = checkpointEvery, Parallelism = threads }, new NullObserver());
        return await trainer.RunAsync(CancellationToken.None);
    }

    [Theory]
    [InlineData("float32", "adam")]
    [InlineData("float64", "adagrad")]
    [InlineData("float32", "sgd")]
    public async Task Stop_and_resume_gives_the_same_bits_as_a_straight_run(string precision, string optimizer)
    {
        var corpus = TestUtil.CorpusOf(TestUtil.SmallText());
        var cfg = Config with { Precision = precision, Optimizer = optimizer, Lr = optimizer == "sgd" ? 0.5 : 0.01 };
        string straight = precision == "float32" ? await Straight<float>(cfg, corpus) : await Straight<double>(cfg, corpus);
        string resumed = precision == "float32" ? await Resumed<float>(cfg, corpus) : await Resumed<double>(cfg, corpus);
        Assert.Equal(straight, resumed);
    }

    private static async Task<string> Straight<T>(TrainConfig cfg, DistRnn.Data.Corpus corpus) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
        => (await Run(new TrainingSession<T>(cfg, corpus), TestUtil.TempDir(), threads: 2)).ParamsSha256;

    private static async Task<string> Resumed<T>(TrainConfig cfg, DistRnn.Data.Corpus corpus) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        var dir = TestUtil.TempDir();
        var first = await Run(new TrainingSession<T>(cfg with { Steps = 20 }, corpus), dir, threads: 1);
        Assert.Equal(20, first.Step);
        var ck = CheckpointStore.Resolve(dir, "--resume", _ => { });
        Assert.Equal(20, ck.Header.Step);
        var session = ck.ToSession<T>(corpus, ck.Header.Config with { Steps = 30 });
        var result = await Run(session, dir, threads: 2);
        Assert.Equal(30, result.Step);
        return result.ParamsSha256;
    }

    [Fact]
    public async Task Thread_count_does_not_change_the_bits()
    {
        var corpus = TestUtil.CorpusOf(TestUtil.SmallText());
        var a = await Run(new TrainingSession<float>(Config, corpus), TestUtil.TempDir(), threads: 1);
        var b = await Run(new TrainingSession<float>(Config, corpus), TestUtil.TempDir(), threads: 3);
        Assert.Equal(a.ParamsSha256, b.ParamsSha256);
        Assert.True(double.IsFinite(a.TrainLoss) && double.IsFinite(a.ValLoss));
    }

    [Fact]
    public async Task Training_lowers_the_loss()
    {
        var corpus = TestUtil.CorpusOf(TestUtil.SmallText());
        var cfg = Config with { Steps = 150, Lr = 0.01 };
        var session = new TrainingSession<float>(cfg, corpus);
        double initial = Evaluator.Evaluate(Kernels.Default<float>(), session.Params, session.Activation, corpus.Tokens, session.ValidationWindows(0), 1).Loss;
        var result = await Run(session, TestUtil.TempDir(), threads: 2, checkpointEvery: 1000);
        Assert.True(result.ValLoss < initial * 0.7, $"validation loss {result.ValLoss} vs initial {initial}");
    }
}
