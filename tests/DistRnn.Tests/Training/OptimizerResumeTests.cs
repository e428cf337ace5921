using DistRnn.Compute;
using DistRnn.Configuration;
using DistRnn.Coordinator.Checkpoints;
using DistRnn.Coordinator.Training;
using DistRnn.Model;

namespace DistRnn.Tests.Training;

/// <summary>
/// RMSProp and every schedule survive a stop and resume bit for bit: a 30-step run stopped after step 20 (its
/// checkpoint then holds the optimiser state) and resumed from that checkpoint ends with the params_sha256 of the
/// straight run. The run keeps --steps 30 throughout, so the cosine horizon is the same.
/// </summary>
public class OptimizerResumeTests
{
    // 3168 training characters at batch 16 × seq 20: an epoch is 9 steps, so step decay after epoch 2 acts at steps 18 and 27
    private static readonly TrainConfig Base = new() { Hidden = 12, Seq = 20, Batch = 16, Steps = 30, Seed = 3, Shards = 4 };

    /// <summary>Cancels the run once the given step has been reported: the trainer then checkpoints and stops.</summary>
    private sealed class StopAfter(long step, CancellationTokenSource cts) : ITrainingObserver
    {
        public void OnStep(StepReport report) { if (report.Step == step) cts.Cancel(); }
        public void OnCheckpoint(string path, long s, bool isBest) { }
        public void OnWarning(string message) { }
    }

    private static async Task<TrainResult> Run<T>(TrainingSession<T> session, string outDir, long stopAfter) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        var kernel = Kernels.Default<T>();
        using var computer = new SubtreeComputer<T>(kernel, 2);
        using var cts = new CancellationTokenSource();
        var source = new LocalGradientSource<T>(computer, session.Activation, session.Corpus.Tokens, session.ShardCount);
        var trainer = new Trainer<T>(session, source, kernel, new TrainOptions { OutDir = outDir, CheckpointEvery = 100, Parallelism = 2 }, new StopAfter(stopAfter, cts));
        return await trainer.RunAsync(cts.Token);
    }

    public static TheoryData<string, string, string, long> Cases() => new()
    {
        { "float64", "rmsprop", "constant", 0 },
        { "float32", "rmsprop", "step", 0 },
        { "float32", "adam", "cosine", 5 },
        { "float64", "sgd", "step", 3 },
        { "float32", "adam", "constant", 6 },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task A_stopped_and_resumed_run_has_the_bits_of_a_straight_run(string precision, string optimizer, string schedule, long warmup)
    {
        var cfg = Base with
        {
            Precision = precision, Optimizer = optimizer, Lr = optimizer == "sgd" ? 0.5 : 0.01,
            LrSchedule = schedule, LrDecay = 0.5, LrDecayAfter = 2, LrDecayEvery = 0, WarmupSteps = warmup,
        };
        var corpus = TestUtil.CorpusOf(TestUtil.SmallText());
        var (straight, resumed) = precision == "float32" ? await Both<float>(cfg, corpus) : await Both<double>(cfg, corpus);
        Assert.Equal(straight, resumed);
    }

    private static async Task<(string Straight, string Resumed)> Both<T>(TrainConfig cfg, DistRnn.Data.Corpus corpus) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        var straight = await Run(new TrainingSession<T>(cfg, corpus), TestUtil.TempDir(), stopAfter: 0);
        Assert.False(straight.Interrupted);

        var dir = TestUtil.TempDir();
        var first = await Run(new TrainingSession<T>(cfg, corpus), dir, stopAfter: 20);
        Assert.True(first.Interrupted);
        var ck = CheckpointStore.Resolve(dir, "--resume", _ => { });
        Assert.Equal(20, ck.Header.Step);
        Assert.Equal(cfg, ck.Header.Config);
        var resumed = await Run(ck.ToSession<T>(corpus, ck.Header.Config), dir, stopAfter: 0);
        Assert.Equal(30, resumed.Step);
        return (straight.ParamsSha256, resumed.ParamsSha256);
    }

    [Fact]
    public void The_rate_actually_changes_in_these_runs_so_the_resume_test_covers_the_schedules()
    {
        var s = new LearningRateSchedule(Base with { Lr = 1, LrSchedule = "step", LrDecay = 0.5, LrDecayAfter = 2, LrDecayEvery = 0 }, TestUtil.CorpusOf(TestUtil.SmallText()).SplitIndex(Base.ValFrac));
        Assert.Equal(1.0, s.At(18));
        Assert.Equal(0.5, s.At(19));
        Assert.Equal(0.25, s.At(28));
    }
}
