using System.Numerics;
using DistRnn.Compute;
using DistRnn.Configuration;
using DistRnn.Coordinator.Checkpoints;
using DistRnn.Coordinator.Training;
using DistRnn.Data;
using DistRnn.Model;
using DistRnn.Tests.Cli;
using DistRnn.Tests.Cluster;

namespace DistRnn.Tests.Training;

/// <summary>
/// train --state carry's guarantees: a two-window stream trained with carry is, bit for bit, the computation done by
/// hand with the first window's final state passed in; the same bits across a stop and resume, in float32 and float64
/// (and for 0–4 workers: LocalClusterTests); the carried states are part of a checkpoint; bad values are bad input.
/// </summary>
public sealed class CarriedStateTrainingTests
{
    private static readonly TrainConfig Small = new()
    {
        Hidden = 16, Seq = 12, Batch = 8, Shards = 8, Steps = 6, Seed = 5, Lr = 0.01, LrSchedule = "constant", State = "carry",
    };

    private static async Task<TrainingSession<T>> Train<T>(TrainingSession<T> session, int threads = 2) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var kernel = Kernels.For<T>(session.Params.Shape, session.Config.Dropout);
        using var computer = new SubtreeComputer<T>(kernel, threads);
        var source = new LocalGradientSource<T>(computer, session.Activation, session.Corpus.Tokens, session.ShardCount);
        var options = new TrainOptions { OutDir = TestUtil.TempDir(), CheckpointEvery = 1000, ValWindows = 4, Parallelism = threads };
        await new Trainer<T>(session, source, kernel, options, new NullObserver()).RunAsync(CancellationToken.None);
        return session;
    }

    private struct GradSink : IShardSink<double>
    {
        public Tensors<double>? Grad;
        public double Loss;
        public long Chars;
        public void OnShard(int shard, Tensors<double>? grad, double loss, long chars) { Grad = grad!.Clone(); Loss = loss; Chars = chars; }
    }

    /// <summary>One step by hand, as the lecture's update: the shard's summed gradient from the given s_0, its mean, the clip, Adam.</summary>
    private static void StepByHand(TrainConfig cfg, Tensors<double> p, Optimizer<double> opt, int[] tokens, SequenceRef[] seqs, double[] s0, double[] final, long step)
    {
        var sink = new GradSink();
        Kernels.Default<double>().Run(p, cfg.ActivationKind, tokens, seqs, [0, seqs.Length], gradients: true, ref sink, null, new CarriedState<double>(s0, final));
        var g = sink.Grad!.Data;
        double inv = 1.0 / sink.Chars;
        for (int i = 0; i < g.Length; i++) g[i] *= inv;
        GradientClipper.Clip<double>(g, cfg.Clip);
        opt.Step(p.Data, g, cfg.Lr);
    }

    [Fact]
    public async Task A_two_window_stream_trained_with_carry_is_the_computation_by_hand_with_the_first_final_state_passed_in()
    {
        var corpus = TestUtil.CorpusOf(TestUtil.SmallText());
        var cfg = Small with { Shards = 1, Batch = 3, Steps = 2, Precision = "float64", Optimizer = "adam" };
        var trained = await Train(new TrainingSession<double>(cfg, corpus));

        var plan = StreamPlan.For(cfg, corpus);
        Assert.All(Enumerable.Range(0, 3), j => Assert.False(plan.StartsFresh(j, 2)));   // no wrap: step 2 starts from step 1's states
        var shape = new ModelShape(corpus.Vocabulary.Size, cfg.Hidden);
        string ByHand(bool passTheStateOn)
        {
            var p = Initializer.Uniform<double>(shape, cfg.Seed);
            var opt = Optimizer<double>.Create(cfg, shape.Count);
            var zero = new double[3 * shape.StateSize];
            var first = new double[zero.Length];
            var second = new double[zero.Length];
            StepByHand(cfg, p, opt, corpus.Tokens, plan.ForStep(1), zero, first, 1);
            StepByHand(cfg, p, opt, corpus.Tokens, plan.ForStep(2), passTheStateOn ? first : zero, second, 2);
            if (passTheStateOn) Assert.Equal(second, trained.CarriedStates);
            return ParamsHash.Sha256(p);
        }
        Assert.Equal(ByHand(passTheStateOn: true), trained.ParamsSha256());
        Assert.NotEqual(ByHand(passTheStateOn: false), trained.ParamsSha256());   // the state passed on makes a difference
    }

    [Theory]
    [InlineData("float32")]
    [InlineData("float64")]
    [InlineData("float32", "lstm", 2, 0.2)]   // every layer's h and c in the checkpoint's carried states
    [InlineData("float64", "lstm", 1, 0.0)]
    public async Task Stopped_at_100_and_resumed_to_200_gives_the_bits_of_200_straight(string precision, string cell = "rnn", int layers = 1, double dropout = 0)
    {
        if (precision == "float32") await StopResume<float>(precision, cell, layers, dropout); else await StopResume<double>(precision, cell, layers, dropout);
    }

    private static async Task StopResume<T>(string precision, string cell, int layers, double dropout) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var corpus = TestUtil.CorpusOf(TestUtil.SmallText(12));
        var cfg = new TrainConfig { Hidden = 8, Seq = 8, Batch = 4, Shards = 2, Steps = 200, Seed = 3, Lr = 0.01, Precision = precision, State = "carry", Cell = cell, Layers = layers, Dropout = dropout };
        Assert.True(StreamPlan.For(cfg, corpus).Windows < 200, "the streams should wrap to the start within the run");
        var straight = await Train(new TrainingSession<T>(cfg, corpus));

        var first = await Train(new TrainingSession<T>(cfg with { Steps = 100 }, corpus));
        var bytes = Checkpoint.Bytes(first, null, null);
        var ck = Checkpoint.Decode(bytes, "test");
        var resumed = ck.ToSession<T>(corpus, ck.Header.Config with { Steps = 200 });
        Assert.Equal(first.CarriedStates, resumed.CarriedStates);
        Assert.Contains(resumed.CarriedStates!, v => v != T.Zero);
        Assert.Equal(4 * resumed.Params.Shape.StateSize, resumed.CarriedStates!.Length);
        await Train(resumed, threads: 1);
        Assert.Equal(straight.ParamsSha256(), resumed.ParamsSha256());
        Assert.Equal(straight.CarriedStates, resumed.CarriedStates);
    }

    [Fact]
    public async Task Train_and_eval_refuse_what_they_cannot_do_with_exit_2()
    {
        var corpus = TestUtil.WriteFile(TestUtil.TempDir(), "c.txt", System.Text.Encoding.UTF8.GetBytes(TestUtil.SmallText()));
        var bad = await CliRunner.Run("train", "--workers", "0", "--corpus", corpus, "--state", "sometimes", "--steps", "2", "--hidden", "4", "--out", TestUtil.TempDir());
        Assert.Equal(2, bad.Code);
        Assert.Contains("--state sometimes", bad.Err);

        var outDir = TestUtil.TempDir();
        var ok = await CliRunner.Run("train", "--workers", "0", "--corpus", corpus, "--state", "carry", "--steps", "3", "--hidden", "4", "--seq", "8", "--batch", "2", "--out", outDir);
        Assert.True(ok.Code == 0, ok.ToString());
        var evalBad = await CliRunner.Run("eval", "--checkpoint", outDir, "--state", "maybe");
        Assert.Equal(2, evalBad.Code);
        Assert.Contains("--state maybe", evalBad.Err);
        var eval = await CliRunner.Run("eval", "--checkpoint", outDir, "--state", "carry", "--json");
        Assert.True(eval.Code == 0, eval.ToString());
        using var json = System.Text.Json.JsonDocument.Parse(eval.Out);
        Assert.Equal("carry", json.RootElement.GetProperty("state").GetString());
        Assert.True(json.RootElement.GetProperty("loss").GetDouble() > 0);
        Assert.True(json.RootElement.GetProperty("reset_loss").GetDouble() > 0);
        // a different --state on resume is refused: a resumed run keeps its configuration
        var resume = await CliRunner.Run("train", "--resume", outDir, "--state", "reset", "--steps", "4");
        Assert.Equal(2, resume.Code);
        Assert.Contains("--state reset", resume.Err);
    }
}
