using System.Numerics;
using DistRnn.Model;
using Xunit;

namespace DistRnn.Tests.Kernel;

/// <summary>The fast kernel against the plain kernel (the oracle), and its own reproducibility.</summary>
public class FastKernelTests
{
    internal static Tensors<T> RandomParams<T>(ModelShape shape, int seed, double scale) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var rng = new Random(seed);
        var p = new Tensors<T>(shape);
        for (int i = 0; i < p.Data.Length; i++) p.Data[i] = T.CreateTruncating((rng.NextDouble() * 2 - 1) * scale);
        return p;
    }

    internal static int[] RandomTokens(int n, int k, int seed)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => rng.Next(k)).ToArray();
    }

    /// <summary>Sequences of the given lengths at random starts in a token array of length n.</summary>
    internal static SequenceRef[] RandomSeqs(int[] lengths, int n, int seed)
    {
        var rng = new Random(seed);
        return lengths.Select(l => new SequenceRef(rng.Next(n - l), l)).ToArray();
    }

    /// <summary>max |a − b| over max(|b|, tiny), per tensor and over the whole vector.</summary>
    private static double RelErr<T>(Tensors<T> a, Tensors<T> b) where T : unmanaged, IFloatingPointIeee754<T>
    {
        double diff = 0, mag = 0;
        for (int i = 0; i < a.Data.Length; i++)
        {
            diff = Math.Max(diff, Math.Abs(double.CreateTruncating(a.Data[i]) - double.CreateTruncating(b.Data[i])));
            mag = Math.Max(mag, Math.Abs(double.CreateTruncating(b.Data[i])));
        }
        return diff / Math.Max(mag, 1e-300);
    }

    public static TheoryData<int, int, int[], Activation> Shapes() => new()
    {
        { 1, 2, [1], Activation.Tanh },
        { 3, 5, [4, 4], Activation.Sigmoid },
        { 7, 13, [9, 3, 9, 1], Activation.Tanh },
        { 17, 11, [12, 12, 12], Activation.Sigmoid },
        { 33, 65, [20, 7, 20, 13, 1], Activation.Tanh },
        { 64, 65, [16, 16], Activation.Tanh },
        { 25, 30, [5, 17, 2, 17, 9, 11], Activation.Sigmoid },
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Float64_matches_the_plain_kernel(int d, int k, int[] lengths, Activation act)
    {
        var shape = new ModelShape(k, d);
        var p = RandomParams<double>(shape, d * 31 + k, 0.6);
        var tokens = RandomTokens(400, k, d + k);
        var seqs = RandomSeqs(lengths, tokens.Length, d);
        var gPlain = new Tensors<double>(shape); var gFast = new Tensors<double>(shape);
        double lPlain = PlainKernel<double>.Instance.Accumulate(p, act, tokens, seqs, gPlain);
        double lFast = FastKernel<double>.Instance.Accumulate(p, act, tokens, seqs, gFast);
        Assert.InRange(Math.Abs(lFast - lPlain) / lPlain, 0, 1e-12);
        Assert.InRange(RelErr(gFast, gPlain), 0, 1e-10);
        Assert.InRange(Math.Abs(FastKernel<double>.Instance.Loss(p, act, tokens, seqs) - lPlain) / lPlain, 0, 1e-12);
        Assert.Equal(lFast, FastKernel<double>.Instance.Loss(p, act, tokens, seqs));
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Float32_matches_the_plain_kernel(int d, int k, int[] lengths, Activation act)
    {
        var shape = new ModelShape(k, d);
        var p = RandomParams<float>(shape, d * 17 + k, 0.6);
        var tokens = RandomTokens(400, k, d * 3 + k);
        var seqs = RandomSeqs(lengths, tokens.Length, d + 1);
        var gPlain = new Tensors<float>(shape); var gFast = new Tensors<float>(shape);
        double lPlain = PlainKernel<float>.Instance.Accumulate(p, act, tokens, seqs, gPlain);
        double lFast = FastKernel<float>.Instance.Accumulate(p, act, tokens, seqs, gFast);
        Assert.InRange(Math.Abs(lFast - lPlain) / lPlain, 0, 1e-5);
        Assert.InRange(RelErr(gFast, gPlain), 0, 2e-5);
    }

    [Fact]
    public void Accumulate_adds_to_the_gradient_it_is_given()
    {
        var shape = new ModelShape(9, 10);
        var p = RandomParams<double>(shape, 1, 0.5);
        var tokens = RandomTokens(100, 9, 2);
        var seqs = RandomSeqs([8, 8], 100, 3);
        var once = new Tensors<double>(shape);
        FastKernel<double>.Instance.Accumulate(p, Activation.Tanh, tokens, seqs, once);
        var twice = once.Clone();
        FastKernel<double>.Instance.Accumulate(p, Activation.Tanh, tokens, seqs, twice);
        for (int i = 0; i < once.Data.Length; i++) Assert.Equal(2 * once.Data[i], twice.Data[i], 12);
    }

    [Fact]
    public void Float64_gradient_matches_finite_differences()
    {
        var shape = new ModelShape(6, 5);
        var p = RandomParams<double>(shape, 5, 0.8);
        var tokens = RandomTokens(60, 6, 6);
        var seqs = RandomSeqs([7, 3, 7], 60, 7);
        foreach (var act in new[] { Activation.Tanh, Activation.Sigmoid })
        {
            var g = new Tensors<double>(shape);
            FastKernel<double>.Instance.Accumulate(p, act, tokens, seqs, g);
            for (int i = 0; i < p.Data.Length; i++)
            {
                const double h = 1e-5;
                var plus = p.Clone(); plus.Data[i] += h;
                var minus = p.Clone(); minus.Data[i] -= h;
                double fd = (FastKernel<double>.Instance.Loss(plus, act, tokens, seqs) - FastKernel<double>.Instance.Loss(minus, act, tokens, seqs)) / (2 * h);
                Assert.True(Math.Abs(fd - g.Data[i]) <= 1e-7 * Math.Max(1, Math.Abs(fd)), $"{act} param {i}: analytic {g.Data[i]}, numeric {fd}");
            }
        }
    }
}
