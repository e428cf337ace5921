using DistRnn.Model;

namespace DistRnn.Tests.Model;

/// <summary>The plain kernel's BPTT against centered finite differences and against an independent implementation.</summary>
public class GradientCheckTests
{
    public static TheoryData<int, int, int, bool> Cases()
    {
        var data = new TheoryData<int, int, int, bool>();
        foreach (bool tanh in new[] { true, false })
        foreach (var (k, d) in new[] { (2, 1), (3, 2), (5, 4), (7, 9) })
        foreach (int T in new[] { 1, 2, 3, 7, 20, 50 })
            data.Add(k, d, T, tanh);
        return data;
    }

    private static double Loss(Tensors<double> p, Activation act, int[] tokens) =>
        PlainKernel<double>.Instance.Loss(p, act, tokens, [new SequenceRef(0, tokens.Length - 1)]);

    [Theory]
    [MemberData(nameof(Cases))]
    public void Every_parameter_matches_centered_finite_differences(int k, int d, int T, bool tanh)
    {
        var act = tanh ? Activation.Tanh : Activation.Sigmoid;
        var shape = new ModelShape(k, d);
        // Weights of order 1/√d keep the recurrence contractive; a chaotic one amplifies rounding exponentially in T.
        var p = TestUtil.RandomParams<double>(shape, seed: k * 1000 + d * 100 + T, scale: Math.Min(0.6, 1.2 / Math.Sqrt(d)));
        var tokens = TestUtil.RandomTokens(T + 1, k, seed: T * 31 + k);
        var grad = new Tensors<double>(shape);
        double loss = PlainKernel<double>.Instance.Accumulate(p, act, tokens, [new SequenceRef(0, T)], grad);
        Assert.Equal(Loss(p, act, tokens), loss);

        // Five-point centered stencil: truncation O(h⁴) and rounding ≈ ε·L/h both far below 1e-7 relative.
        const double h = 1e-3;
        double maxRel = 0; int worst = -1;
        for (int i = 0; i < p.Data.Length; i++)
        {
            double orig = p.Data[i];
            double F(double delta) { p.Data[i] = orig + delta; double l = Loss(p, act, tokens); p.Data[i] = orig; return l; }
            double fd = (-F(2 * h) + 8 * F(h) - 8 * F(-h) + F(-2 * h)) / (12 * h);
            double a = grad.Data[i];
            double rel = Math.Abs(a - fd) / Math.Max(Math.Max(Math.Abs(a), Math.Abs(fd)), 1e-4);
            if (rel > maxRel) { maxRel = rel; worst = i; }
        }
        Assert.True(maxRel <= 1e-7, $"max relative error {maxRel:E2} at parameter {worst} (k={k}, d={d}, T={T}, {act})");
    }

    [Theory]
    [InlineData(3, 2, 10, true)]
    [InlineData(11, 16, 64, true)]
    [InlineData(11, 16, 64, false)]
    [InlineData(40, 33, 200, true)]
    public void Matches_an_independent_float64_implementation(int k, int d, int T, bool tanh)
    {
        var act = tanh ? Activation.Tanh : Activation.Sigmoid;
        var shape = new ModelShape(k, d);
        var p = TestUtil.RandomParams<double>(shape, seed: 99 + T, scale: Math.Min(0.8, 1.5 / Math.Sqrt(d)));
        var tokens = TestUtil.RandomTokens(T + 1, k, seed: 5 + T);
        var grad = new Tensors<double>(shape);
        double loss = PlainKernel<double>.Instance.Accumulate(p, act, tokens, [new SequenceRef(0, T)], grad);

        var r = IndependentRnn.From(p, tanh).Grad(tokens);
        AssertClose(r.Loss, loss, "loss");
        var expected = new Tensors<double>(shape);
        for (int i = 0; i < k; i++) for (int j = 0; j < d; j++) { expected.U[i * d + j] = r.dU[i, j]; expected.V[j * k + i] = r.dV[j, i]; }
        for (int i = 0; i < d; i++) for (int j = 0; j < d; j++) expected.W[i * d + j] = r.dW[i, j];
        for (int j = 0; j < d; j++) expected.B[j] = r.db[j];
        for (int i = 0; i < k; i++) expected.C[i] = r.dc[i];
        double scale = expected.Data.Max(Math.Abs);
        for (int i = 0; i < grad.Data.Length; i++)
            Assert.True(Math.Abs(grad.Data[i] - expected.Data[i]) <= 1e-11 * Math.Max(scale, Math.Abs(expected.Data[i])) + 1e-9 * Math.Abs(expected.Data[i]),
                $"parameter {i}: {grad.Data[i]:R} vs {expected.Data[i]:R}");
    }

    private static void AssertClose(double expected, double actual, string what) =>
        Assert.True(Math.Abs(expected - actual) <= 1e-12 * Math.Abs(expected), $"{what}: {actual:R} vs {expected:R}");

    [Fact]
    public void A_batch_gradient_is_the_sum_of_its_sequences()
    {
        var shape = new ModelShape(6, 5);
        var p = TestUtil.RandomParams<double>(shape, 3);
        var tokens = TestUtil.RandomTokens(100, 6, 4);
        SequenceRef[] seqs = [new(0, 10), new(20, 7), new(50, 30)];
        var together = new Tensors<double>(shape);
        double l = PlainKernel<double>.Instance.Accumulate(p, Activation.Tanh, tokens, seqs, together);
        var apart = new Tensors<double>(shape);
        double l2 = 0;
        foreach (var s in seqs) l2 += PlainKernel<double>.Instance.Accumulate(p, Activation.Tanh, tokens, [s], apart);
        Assert.Equal(l2, l, 12);
        for (int i = 0; i < apart.Data.Length; i++) Assert.Equal(apart.Data[i], together.Data[i], 12);
    }

    [Fact]
    public void Float32_kernel_agrees_with_float64_to_single_precision()
    {
        var shape = new ModelShape(8, 12);
        var p64 = TestUtil.RandomParams<double>(shape, 11);
        var p32 = new Tensors<float>(shape, p64.Data.Select(v => (float)v).ToArray());
        for (int i = 0; i < p64.Data.Length; i++) p64.Data[i] = p32.Data[i];
        var tokens = TestUtil.RandomTokens(41, 8, 12);
        var g64 = new Tensors<double>(shape); var g32 = new Tensors<float>(shape);
        double l64 = PlainKernel<double>.Instance.Accumulate(p64, Activation.Tanh, tokens, [new SequenceRef(0, 40)], g64);
        double l32 = PlainKernel<float>.Instance.Accumulate(p32, Activation.Tanh, tokens, [new SequenceRef(0, 40)], g32);
        Assert.True(Math.Abs(l64 - l32) < 1e-4 * l64);
        double scale = g64.Data.Max(Math.Abs);
        for (int i = 0; i < g64.Data.Length; i++) Assert.True(Math.Abs(g64.Data[i] - g32.Data[i]) < 1e-4 * scale, $"parameter {i}");
    }
}
