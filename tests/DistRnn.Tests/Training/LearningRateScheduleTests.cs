using DistRnn.Configuration;
using DistRnn.Coordinator.Training;

namespace DistRnn.Tests.Training;

/// <summary>lr_t of each schedule against values worked out by hand from the formulas in docs/optimizers.md.</summary>
public class LearningRateScheduleTests
{
    // 1000 training characters at batch 4 × seq 10: an epoch is ⌊1000 / 40⌋ = 25 steps
    private static LearningRateSchedule Of(TrainConfig c) => new(c with { Batch = 4, Seq = 10 }, trainLength: 1000);

    [Fact]
    public void Constant_without_warmup_is_exactly_lr_at_every_step()
    {
        var s = Of(new TrainConfig { Lr = 0.0123, LrSchedule = "constant", Steps = 100 });
        foreach (long t in new long[] { 1, 2, 50, 99, 100 }) Assert.Equal(0.0123, s.At(t));
    }

    [Fact]
    public void An_epoch_is_char_rnns_ntrain_at_least_one_step()
    {
        Assert.Equal(25, LearningRateSchedule.EpochSteps(1000, 4, 10));
        Assert.Equal(24, LearningRateSchedule.EpochSteps(999, 4, 10));
        Assert.Equal(1, LearningRateSchedule.EpochSteps(30, 4, 10));
    }

    /// <summary>char-rnn decays after the update that ends epoch e ≥ A: with E = 25 and A = 2 the first decayed step is 51.</summary>
    [Fact]
    public void Step_decay_multiplies_by_gamma_at_the_end_of_each_epoch_from_decay_after_on()
    {
        var s = Of(new TrainConfig { Lr = 0.01, LrSchedule = "step", LrDecay = 0.5, LrDecayAfter = 2, LrDecayEvery = 0, Steps = 200 });
        Assert.Equal(0.01, s.At(1));
        Assert.Equal(0.01, s.At(26));  // epoch 1 ended: before decay-after
        Assert.Equal(0.01, s.At(50));  // the last step of epoch 2
        Assert.Equal(0.005, s.At(51)); // epoch 2 ended
        Assert.Equal(0.005, s.At(75));
        Assert.Equal(0.0025, s.At(76));
        Assert.Equal(0.01 * 0.5 * 0.5 * 0.5, s.At(101));
    }

    [Fact]
    public void Step_decay_after_0_decays_from_the_end_of_epoch_1_as_char_rnn_does()
    {
        var s = Of(new TrainConfig { Lr = 0.01, LrSchedule = "step", LrDecay = 0.5, LrDecayAfter = 0, LrDecayEvery = 0, Steps = 200 });
        Assert.Equal(0.01, s.At(25));
        Assert.Equal(0.005, s.At(26));
    }

    [Fact]
    public void Step_decay_every_K_steps_counts_periods_of_K_instead_of_epochs()
    {
        var s = Of(new TrainConfig { Lr = 0.01, LrSchedule = "step", LrDecay = 0.5, LrDecayAfter = 3, LrDecayEvery = 10, Steps = 200 });
        Assert.Equal(0.01, s.At(30));
        Assert.Equal(0.005, s.At(31));
        Assert.Equal(0.005, s.At(40));
        Assert.Equal(0.0025, s.At(41));
    }

    [Fact]
    public void Warmup_rises_linearly_to_lr_at_step_W_then_hands_over_to_the_schedule()
    {
        var s = Of(new TrainConfig { Lr = 0.01, LrSchedule = "constant", WarmupSteps = 4, Steps = 100 });
        Assert.Equal(0.01 * 1 / 4, s.At(1));
        Assert.Equal(0.01 * 2 / 4, s.At(2));
        Assert.Equal(0.01 * 3 / 4, s.At(3));
        Assert.Equal(0.01, s.At(4));
        Assert.Equal(0.01, s.At(100));
    }

    /// <summary>N = 14, W = 4: s(t) = ½(1 + cos(π(t − 5)/10)) after warmup: 1 at t = 5, ½ at t = 10, 0.5·(1 + cos 0.9π) at t = 14.</summary>
    [Fact]
    public void Cosine_falls_from_lr_after_warmup_to_near_zero_at_the_last_step()
    {
        var s = Of(new TrainConfig { Lr = 0.01, LrSchedule = "cosine", WarmupSteps = 4, Steps = 14 });
        Assert.Equal(0.0025, s.At(1));
        Assert.Equal(0.01, s.At(4));
        Assert.Equal(0.01, s.At(5));
        Assert.Equal(0.005, s.At(10), tolerance: 1e-17);
        Assert.Equal(0.01 * 0.5 * (1 + Math.Cos(0.9 * Math.PI)), s.At(14), tolerance: 1e-17);
        for (long t = 5; t < 14; t++) Assert.True(s.At(t + 1) < s.At(t));
    }

    [Fact]
    public void The_libm_free_half_cosine_agrees_with_Math_Cos_to_a_few_ulps()
    {
        for (int i = 0; i <= 1000; i++)
        {
            double x = i / 1000.0;
            Assert.Equal(0.5 * (1 + Math.Cos(Math.PI * x)), LearningRateSchedule.HalfCosine(x), tolerance: 1e-15);
        }
        Assert.Equal(1.0, LearningRateSchedule.HalfCosine(0));
    }

    [Fact]
    public void The_session_applies_the_schedules_rate_of_each_step()
    {
        var corpus = TestUtil.CorpusOf(TestUtil.SmallText(5));
        var cfg = new TrainConfig { Hidden = 4, Seq = 8, Batch = 2, Optimizer = "sgd", Lr = 0.1, LrSchedule = "cosine", WarmupSteps = 2, Steps = 6 };
        var session = new TrainingSession<double>(cfg, corpus);
        for (long t = 1; t <= 6; t++)
        {
            var before = (double[])session.Params.Data.Clone();
            var g = new DistRnn.Model.Tensors<double>(session.Params.Shape);
            g.Data[0] = 16; // the sum over 16 characters: the mean gradient is 1 in element 0 (norm 1, below the clip)
            var outcome = session.Apply(new DistRnn.Reduction.ShardSum<double>(g, 1, 16));
            Assert.Equal(session.Schedule.At(t), outcome.LearningRate);
            Assert.Equal(before[0] - outcome.LearningRate, session.Params.Data[0], 15);
            Assert.Equal(before[1..], session.Params.Data[1..]);
        }
    }
}
