using System.Runtime.Intrinsics;
using DistRnn.Model;
using DistRnn.Model.Fast;
using Xunit;

namespace DistRnn.Tests.Kernel;

/// <summary>The vectorised activations must have exactly DetMath's bits (that is what makes them host-independent).</summary>
public class DetVecTests
{
    private static double[] Inputs()
    {
        var rng = new Random(7);
        var xs = new List<double>
        {
            0.0, -0.0, 1e-300, -1e-300, 1e-8, -1e-8, 0.5, -0.5, 1, -1, 20, -20, 21.99, 22, 22.01, -22.01, 40, -40, 40.5, -40.5,
            100, -100, 700, -700, 709.78, 709.79, -745, -745.1, -744.9, -1000, 1000, 710, -710, 0.34657359, -0.34657359,
            double.NaN, double.PositiveInfinity, double.NegativeInfinity, double.Epsilon, -double.Epsilon,
        };
        for (int i = 0; i < 20000; i++) xs.Add((rng.NextDouble() * 2 - 1) * 8);
        for (int i = 0; i < 20000; i++) xs.Add((rng.NextDouble() * 2 - 1) * 800);
        for (int i = 0; i < 2000; i++) xs.Add((rng.NextDouble() * 2 - 1) * 1e-6);
        while (xs.Count % 4 != 0) xs.Add(0.25);
        return xs.ToArray();
    }

    private static void Same(double expected, double actual, string what, double x)
    {
        Assert.True(BitConverter.DoubleToInt64Bits(expected) == BitConverter.DoubleToInt64Bits(actual) || (double.IsNaN(expected) && double.IsNaN(actual)),
            $"{what}({x:R}): DetMath {expected:R}, DetVec {actual:R}");
    }

    [Fact]
    public void Exp_tanh_and_sigmoid_have_DetMaths_bits_in_every_lane()
    {
        var xs = Inputs();
        for (int i = 0; i < xs.Length; i += 4)
        {
            var v = Vector256.Create<double>(xs.AsSpan(i, 4));
            var e = DetVec.Exp(v); var t = DetVec.Tanh(v); var s = DetVec.Sigmoid(v);
            for (int l = 0; l < 4; l++)
            {
                double x = xs[i + l];
                Same(DetMath.Exp(x), e[l], "exp", x);
                Same(DetMath.Tanh(x), t[l], "tanh", x);
                Same(DetMath.Sigmoid(x), s[l], "sigmoid", x);
            }
        }
    }

    [Fact]
    public void The_512_bit_lanes_have_DetMaths_bits_too()
    {
        if (!Vector512.IsHardwareAccelerated) return; // the 512-bit path is only taken on AVX-512 hosts
        var xs = Inputs();
        while (xs.Length % 8 != 0) xs = [.. xs, 0.75];
        for (int i = 0; i < xs.Length; i += 8)
        {
            var v = Vector512.Create<double>(xs.AsSpan(i, 8));
            var e = DetVec512.Exp(v); var t = DetVec512.Tanh(v); var s = DetVec512.Sigmoid(v);
            for (int l = 0; l < 8; l++)
            {
                double x = xs[i + l];
                Same(DetMath.Exp(x), e[l], "exp512", x);
                Same(DetMath.Tanh(x), t[l], "tanh512", x);
                Same(DetMath.Sigmoid(x), s[l], "sigmoid512", x);
            }
        }
    }

    [Theory]
    [InlineData(Activation.Tanh)]
    [InlineData(Activation.Sigmoid)]
    public void Activate_over_spans_matches_the_plain_activation_in_float_and_double(Activation act)
    {
        var xs = Inputs();
        var d = (double[])xs.Clone();
        DetVec.Activate<double>(d.AsSpan(0, d.Length - 3), act);   // odd length: vector part and scalar tail
        for (int i = 0; i < d.Length - 3; i++) Same(act.Apply(xs[i]), d[i], act.Name(), xs[i]);

        var f = xs.Select(x => (float)x).ToArray();
        var expected = f.Select(x => act.Apply(x)).ToArray();
        DetVec.Activate<float>(f.AsSpan(0, f.Length - 5), act);
        for (int i = 0; i < f.Length - 5; i++)
            Assert.True(BitConverter.SingleToInt32Bits(expected[i]) == BitConverter.SingleToInt32Bits(f[i]) || float.IsNaN(f[i]), $"{act.Name()}({xs[i]:R}) float");
    }

    [Fact]
    public void DetMath_is_accurate_to_a_few_ulps_against_the_C_library()
    {
        // DetVec inherits DetMath's accuracy because it has its bits; check that accuracy once here.
        var rng = new Random(3);
        for (int i = 0; i < 20000; i++)
        {
            double x = (rng.NextDouble() * 2 - 1) * 20;
            Assert.True(Math.Abs(DetMath.Tanh(x) - Math.Tanh(x)) <= 4 * Ulp(Math.Tanh(x)), $"tanh {x}");
            Assert.True(Math.Abs(DetMath.Exp(x) - Math.Exp(x)) <= 4 * Ulp(Math.Exp(x)), $"exp {x}");
            double s = 1 / (1 + Math.Exp(-x));
            Assert.True(Math.Abs(DetMath.Sigmoid(x) - s) <= 4 * Ulp(s), $"sigmoid {x}");
        }
    }

    private static double Ulp(double v) => Math.BitIncrement(Math.Abs(v)) - Math.Abs(v);
}
