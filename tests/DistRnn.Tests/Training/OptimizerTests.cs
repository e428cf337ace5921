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
        Optimizer<double>.Create("sgd", 0.1, 2).Step(p, [0.5, -1.0]);
        Assert.Equal([0.95, -1.9], p);
    }

    [Fact]
    public void Adagrad_matches_pytorch_formula()
    {
        var p = new[] { 1.0 };
        var opt = Optimizer<double>.Create("adagrad", 0.1, 1);
        opt.Step(p, [2.0]);
        Assert.Equal(1.0 - 0.1 * 2 / (2 + 1e-10), p[0], 15);
        opt.Step(p, [1.0]);
        Assert.Equal(1.0 - 0.1 * 2 / (2 + 1e-10) - 0.1 * 1 / (Math.Sqrt(5) + 1e-10), p[0], 15);
    }

    [Fact]
    public void Adam_matches_pytorch_formula_over_steps()
    {
        double lr = 0.01, b1 = 0.9, b2 = 0.999, eps = 1e-8;
        double[] grads = [0.3, -0.1, 0.7];
        var p = new[] { 0.5 };
        var opt = Optimizer<double>.Create("adam", lr, 1);
        double m = 0, v = 0, expected = 0.5;
        for (int t = 1; t <= grads.Length; t++)
        {
            double g = grads[t - 1];
            opt.Step(p, [g]);
            m = b1 * m + (1 - b1) * g; v = b2 * v + (1 - b2) * g * g;
            expected -= lr / (1 - Math.Pow(b1, t)) * m / (Math.Sqrt(v) / Math.Sqrt(1 - Math.Pow(b2, t)) + eps);
            Assert.Equal(expected, p[0], 12);
        }
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
