using DistRnn.Configuration;
using DistRnn.Coordinator.Training;
using DistRnn.Reduction;

namespace DistRnn.Tests.Training;

public class OptimizerTests
{
    [Fact]
    public void Sgd_steps_against_the_gradient()
    {
        var p = new[] { 1.0, -2.0 };
        Optimizer<double>.Create(new TrainConfig { Optimizer = "sgd" }, 2).Step(p, [0.5, -1.0], 0.1);
        Assert.Equal([0.95, -1.9], p);
    }

    [Fact]
    public void Adagrad_matches_pytorch_formula()
    {
        var p = new[] { 1.0 };
        var opt = Optimizer<double>.Create(new TrainConfig { Optimizer = "adagrad" }, 1);
        opt.Step(p, [2.0], 0.1);
        Assert.Equal(1.0 - 0.1 * 2 / (2 + 1e-10), p[0], 15);
        opt.Step(p, [1.0], 0.1);
        Assert.Equal(1.0 - 0.1 * 2 / (2 + 1e-10) - 0.1 * 1 / (Math.Sqrt(5) + 1e-10), p[0], 15);
    }

    [Fact]
    public void Adam_matches_pytorch_formula_over_steps()
    {
        double lr = 0.01, b1 = 0.9, b2 = 0.999, eps = 1e-8;
        double[] grads = [0.3, -0.1, 0.7];
        var p = new[] { 0.5 };
        var opt = Optimizer<double>.Create(new TrainConfig { Optimizer = "adam" }, 1);
        double m = 0, v = 0, expected = 0.5;
        for (int t = 1; t <= grads.Length; t++)
        {
            double g = grads[t - 1];
            opt.Step(p, [g], lr);
            m = b1 * m + (1 - b1) * g; v = b2 * v + (1 - b2) * g * g;
            expected -= lr / (1 - Math.Pow(b1, t)) * m / (Math.Sqrt(v) / Math.Sqrt(1 - Math.Pow(b2, t)) + eps);
            Assert.Equal(expected, p[0], 12);
        }
    }

    /// <summary>
    /// torch/optim's rmsprop (char-rnn's optimiser) by hand, with α = 0.95 and ε = 1e−8 after the square root, over
    /// three steps of two parameters at the rates 0.01, 0.002 and 0.01:
    /// step 1, g = (0.3, −2): m = 0.05·g² = (0.0045, 0.2), p −= lr·g/(√m + ε).
    /// </summary>
    [Fact]
    public void RmsProp_matches_torch_optim_by_hand_in_float64()
    {
        var opt = Optimizer<double>.Create(new TrainConfig { Optimizer = "rmsprop", RmspropDecay = 0.95 }, 2);
        var p = new[] { 0.5, -1.0 };
        opt.Step(p, [0.3, -2.0], 0.01);
        Assert.Equal(0.0045, opt.StateArrays[0][0], 15);
        Assert.Equal(0.2, opt.StateArrays[0][1], 15);
        // 0.01·0.3/√0.0045 = 0.0447213...; 0.01·2/√0.2 = 0.0447213... (the same: |g|/√(0.05 g²) = √20)
        Assert.Equal(0.5 - 0.0447213595499958 * (1 - 1e-8 / Math.Sqrt(0.0045)), p[0], 12);
        Assert.Equal(-1.0 + 0.0447213595499958 * (1 - 1e-8 / Math.Sqrt(0.2)), p[1], 12);

        double[] m = [0.0045, 0.2], q = [p[0], p[1]];
        foreach (var (g, lr) in new[] { (new[] { -0.1, 1.0 }, 0.002), (new[] { 0.2, 0.0 }, 0.01) })
        {
            opt.Step(p, g, lr);
            for (int i = 0; i < 2; i++)
            {
                m[i] = 0.95 * m[i] + 0.05 * g[i] * g[i];
                q[i] -= lr * g[i] / (Math.Sqrt(m[i]) + 1e-8);
            }
            Assert.Equal(m[0], opt.StateArrays[0][0], 15);
            Assert.Equal(m[1], opt.StateArrays[0][1], 15);
            Assert.Equal(q[0], p[0], 14);
            Assert.Equal(q[1], p[1], 14);
        }
        // step 3 left m[1] = 0.95 · (0.95·0.2 + 0.05·1) = 0.228 and p[1] unmoved (g = 0)
        Assert.Equal(0.228, m[1], 15);
    }

    /// <summary>The same rule in float32: every operation rounds to float, α and 1−α rounded once from double.</summary>
    [Fact]
    public void RmsProp_rounds_each_operation_to_float32()
    {
        var opt = Optimizer<float>.Create(new TrainConfig { Optimizer = "rmsprop", RmspropDecay = 0.9 }, 2);
        var p = new[] { 0.25f, -0.75f };
        float alpha = 0.9f, oneMinus = (float)(1 - 0.9), eps = 1e-8f;
        float[] m = [0f, 0f], q = [0.25f, -0.75f];
        foreach (var (g, lr) in new[] { (new[] { 0.3f, -0.7f }, 0.01), (new[] { -0.2f, 0.1f }, 0.005), (new[] { 0.05f, 0.4f }, 0.01) })
        {
            opt.Step(p, g, lr);
            for (int i = 0; i < 2; i++)
            {
                m[i] = alpha * m[i] + oneMinus * g[i] * g[i];
                q[i] -= (float)lr * g[i] / (MathF.Sqrt(m[i]) + eps);
            }
            Assert.Equal(m, opt.StateArrays[0]);
            Assert.Equal(q, p);
        }
    }

    [Fact]
    public void The_rate_is_the_callers_so_sgd_moves_by_lr_t_times_g()
    {
        var opt = Optimizer<float>.Create(new TrainConfig { Optimizer = "sgd" }, 1);
        var p = new[] { 1f };
        opt.Step(p, [2f], 0.25);
        opt.Step(p, [2f], 0.125);
        Assert.Equal(1f - 0.5f - 0.25f, p[0]);
    }

    [Fact]
    public void Clipping_scales_to_the_clip_norm_only_when_above_it()
    {
        var g = new[] { 3.0, 4.0 };
        Assert.Equal(5.0, GradientClipper.Clip<double>(g, 1.0));
        Assert.Equal(1.0, Math.Sqrt(g[0] * g[0] + g[1] * g[1]), 5);
        var h = new[] { 0.3, 0.4 };
        GradientClipper.Clip<double>(h, 1.0);
        Assert.Equal([0.3, 0.4], h);
        var off = new[] { 30.0, 40.0 };
        GradientClipper.Clip<double>(off, 0);
        Assert.Equal([30.0, 40.0], off);
    }

    [Fact]
    public void Non_finite_gradients_skip_the_step_then_stop_the_run()
    {
        var corpus = TestUtil.CorpusOf(TestUtil.SmallText(5));
        var session = new TrainingSession<double>(new TrainConfig { Hidden = 4, Seq = 8, Batch = 2 }, corpus);
        var before = (double[])session.Params.Data.Clone();
        ShardSum<double> Bad() { var g = new DistRnn.Model.Tensors<double>(session.Params.Shape); g.Data[3] = double.NaN; return new ShardSum<double>(g, 1, 16); }
        for (int i = 1; i < TrainingSession<double>.MaxConsecutiveBadSteps; i++)
        {
            var o = session.Apply(Bad());
            Assert.True(o.Skipped);
            Assert.Equal(before, session.Params.Data);
        }
        Assert.Throws<DivergedException>(() => session.Apply(Bad()));
    }
}
