using DistRnn.Configuration;
using DistRnn.Coordinator.Explain;
using DistRnn.Coordinator.Training;
using DistRnn.Model;
using MathNet.Numerics.LinearAlgebra;
using Xunit;
using Xunit.Abstractions;

namespace DistRnn.Tests.Explain;

/// <summary>The path-by-path decomposition of BPTT against independent references (float64).</summary>
public class ExplainMathTests(ITestOutputHelper output)
{
    private static double Norm(IEnumerable<double> v) => Math.Sqrt(v.Sum(x => x * x));

    private static double RelErr(double[] actual, double[] expected)
    {
        double diff = Norm(actual.Zip(expected, (a, e) => a - e)), scale = Norm(expected);
        return scale == 0 ? diff : diff / scale;
    }

    private static double[] Slice(Tensors<double> g, ExplainParam param) => param switch
    {
        ExplainParam.W => g.W.ToArray(),
        ExplainParam.U => g.U.ToArray(),
        _ => g.B.ToArray(),
    };

    private static double[] Sum(IEnumerable<double[]> terms)
    {
        double[]? acc = null;
        foreach (var t in terms) { acc ??= new double[t.Length]; for (int i = 0; i < t.Length; i++) acc[i] += t[i]; }
        return acc!;
    }

    public static TheoryData<Activation, ExplainParam> Cases()
    {
        var data = new TheoryData<Activation, ExplainParam>();
        foreach (var a in new[] { Activation.Tanh, Activation.Sigmoid })
            foreach (var p in new[] { ExplainParam.W, ExplainParam.U, ExplainParam.B }) data.Add(a, p);
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void The_terms_of_each_step_sum_to_the_gradient_of_that_steps_loss_alone_and_all_of_them_to_the_full_gradient(Activation act, ExplainParam param)
    {
        var shape = new ModelShape(5, 6);
        var p = TestUtil.RandomParams<double>(shape, 11, scale: 0.8);
        var tokens = TestUtil.RandomTokens(15, 5, 4); // T = 14
        var oracle = new ExplainOracle(p, act == Activation.Tanh);
        var report = PathContributions.Compute(p, act, tokens, param);
        double worst = 0, worstNorm = 0;
        for (int t = 1; t <= report.T; t++)
        {
            var terms = PathContributions.Terms(p, act, tokens, param, t);
            Assert.Equal(t, terms.Length);
            var expected = oracle.SingleLossGradient(tokens, t, param);
            double err = RelErr(Sum(terms), expected);
            worst = Math.Max(worst, err);
            Assert.True(err <= 1e-12, $"t = {t}: Σ_k C[t][k] differs from ∂L_t/∂θ by {err:e2} relative");
            // The reported norms are the norms of these terms.
            for (int k = 1; k <= t; k++)
            {
                double n = Norm(terms[k - 1]);
                worstNorm = Math.Max(worstNorm, Math.Abs(report.ContributionNorms[t - 1][k - 1] - n) / Math.Max(n, 1e-300));
                Assert.Equal(n, report.ContributionNorms[t - 1][k - 1], Math.Max(n, 1e-300) * 1e-12);
            }
            Assert.Equal(report.ContributionNorms[t - 1][t - 1], report.ExplicitNorms[t - 1]);
            double imp = Norm(Sum(terms.Take(t - 1).Append(new double[terms[0].Length])));
            Assert.Equal(imp, report.ImplicitNorms[t - 1], Math.Max(imp, 1e-300) * 1e-12);
        }
        // Σ_t Σ_k C[t][k] is the full BPTT gradient of the plain kernel.
        var grad = new Tensors<double>(shape);
        PlainKernel<double>.Instance.Accumulate(p, act, tokens, [new SequenceRef(0, tokens.Length - 1)], grad);
        double full = RelErr(report.Gradient, Slice(grad, param));
        Assert.True(full <= 1e-12, $"Σ_t Σ_k C[t][k] differs from the full gradient by {full:e2} relative");
        Assert.Equal(Norm(Slice(grad, param)), report.GradientNorm, report.GradientNorm * 1e-12);
        // The explicit and implicit parts together make the gradient; the implicit share is the n = 1 long-path share.
        Assert.Equal(report.ImplicitShare, report.LongPathShares.Single(s => s.MinSteps == 1).Share, 1e-15);
        output.WriteLine($"{act} {param}: max relative error per step {worst:e2}, full gradient {full:e2}, norms {worstNorm:e2}");
    }

    [Theory]
    [InlineData(Activation.Tanh)]
    [InlineData(Activation.Sigmoid)]
    public void The_jacobians_match_centered_finite_differences_and_their_norms_are_reported(Activation act)
    {
        var shape = new ModelShape(4, 5);
        var p = TestUtil.RandomParams<double>(shape, 5, scale: 0.9);
        var tokens = TestUtil.RandomTokens(9, 4, 2); // T = 8
        var oracle = new ExplainOracle(p, act == Activation.Tanh);
        var s = oracle.States(tokens);
        var report = PathContributions.Compute(p, act, tokens, ExplainParam.W);
        int d = shape.D;
        const double h = 1e-5;
        double worst = 0;
        for (int t = 1; t <= 8; t++)
            for (int k = 1; k <= t; k++)
            {
                var J = PathContributions.Jacobian(p, act, tokens, k, t); // row convention: J[i, j] = ∂s_t[j]/∂s_k[i]
                for (int i = 0; i < d; i++)
                {
                    Vector<double> Run(double eps)
                    {
                        var sk = s[k].Clone(); sk[i] += eps;
                        for (int j = k + 1; j <= t; j++) sk = oracle.Step(sk, tokens[j - 1]);
                        return sk;
                    }
                    var fd = (Run(h) - Run(-h)) / (2 * h);
                    for (int j = 0; j < d; j++)
                    {
                        worst = Math.Max(worst, Math.Abs(fd[j] - J[i * d + j]));
                        Assert.True(Math.Abs(fd[j] - J[i * d + j]) <= 1e-7, $"∂s_{t}/∂s_{k}[{i},{j}] = {J[i * d + j]}, finite differences {fd[j]}");
                    }
                }
                // The product of the one-step Jacobians, and its norms as reported.
                var col = oracle.JacobianColumn(s, k, t);
                for (int i = 0; i < d; i++) for (int j = 0; j < d; j++) Assert.Equal(col[j, i], J[i * d + j], 1e-12);
                double spectral = col.L2Norm(), frob = col.FrobeniusNorm();
                Assert.Equal(spectral, report.JacobianSpectral[t - 1][k - 1], spectral * 1e-8);
                Assert.Equal(frob, report.JacobianFrobenius[t - 1][k - 1], frob * 1e-12);
                Assert.True(report.JacobianSpectral[t - 1][k - 1] <= report.JacobianFrobenius[t - 1][k - 1] * (1 + 1e-12));
            }
        Assert.Equal(1.0, report.JacobianSpectral[3][3]);
        Assert.Equal(Math.Sqrt(d), report.JacobianFrobenius[3][3], 1e-15);
        output.WriteLine($"{act}: max |finite differences − ∂s_t/∂s_k| = {worst:e2}");
    }

    [Theory]
    [InlineData(Activation.Tanh)]
    [InlineData(Activation.Sigmoid)]
    public void Power_iteration_finds_the_spectral_norm_of_a_wider_model(Activation act)
    {
        var corpus = TestUtil.CorpusOf(TestUtil.SmallText(1));
        var tokens = corpus.Tokens.Take(31).ToArray(); // T = 30
        var p = Initializer.Uniform<double>(new ModelShape(corpus.Vocabulary.Size, 48), 2);
        for (int i = 0; i < p.W.Length; i++) p.W[i] *= 3; // singular values near 1 and above: the slow case for power iteration
        var report = PathContributions.Compute(p, act, tokens, ExplainParam.W);
        var oracle = new ExplainOracle(p, act == Activation.Tanh);
        var s = oracle.States(tokens);
        double worst = 0;
        for (int k = 1; k <= 30; k++)
        {
            var J = Matrix<double>.Build.DenseIdentity(48);
            for (int t = k + 1; t <= 30; t++)
            {
                J = Matrix<double>.Build.DiagonalOfDiagonalVector(oracle.Deriv(s[t])) * oracle.WMatrix.Transpose() * J;
                double exact = J.L2Norm();
                worst = Math.Max(worst, Math.Abs(report.JacobianSpectral[t - 1][k - 1] - exact) / exact);
            }
        }
        output.WriteLine($"{act}: max relative error of the spectral norms {worst:e2}");
        Assert.True(worst <= 1e-6, $"power iteration is off by {worst:e2} relative");
    }

    /// <summary>
    /// The lecture's example: after training on "deep\n", ∂L_4/∂W (the loss of predicting the stop symbol after "p")
    /// is the sum of four terms, each written out here as ∂L_4/∂s_4 · ∂s_4/∂s_k · ∂⁺s_k/∂W with explicit Jacobians.
    /// </summary>
    [Fact]
    public async Task On_the_lectures_toy_example_the_four_terms_of_dL4_dW_are_the_hand_derived_expansion()
    {
        var (p, corpus) = await ExplainOracle.TrainToy("tanh");
        var tokens = corpus.Vocabulary.Encode("deep\n", "toy"); // inputs d, e, e, p; targets e, e, p, \n
        var o = new ExplainOracle(p, tanh: true);
        var s = o.States(tokens);
        var g4 = o.OutputError(s[4], tokens[4]);                                     // ∂L_4/∂s_4
        var M = Matrix<double>.Build;
        Matrix<double> D(int j) => M.DiagonalOfDiagonalVector(o.Deriv(s[j]));      // diag(σ'(a_j))
        var Wt = o.WMatrix.Transpose();
        // ∂⁺s_k/∂W applied to a row r = ∂L_4/∂s_k: [i, j] = s_{k−1}[i] σ'_k[j] r[j], i.e. s_{k−1}ᵀ (r D_k)
        Matrix<double> Explicit(int k, Vector<double> r) => s[k - 1].OuterProduct(D(k) * r);
        var term4 = Explicit(4, g4);                                                // k = 4: s_3ᵀ (g_4 D_4)
        var term3 = Explicit(3, (D(4) * Wt).TransposeThisAndMultiply(g4));          // k = 3: through ∂s_4/∂s_3 = D_4 Wᵀ
        var term2 = Explicit(2, (D(4) * Wt * D(3) * Wt).TransposeThisAndMultiply(g4));
        var term1 = Explicit(1, (D(4) * Wt * D(3) * Wt * D(2) * Wt).TransposeThisAndMultiply(g4)); // s_0 = 0: this one is 0
        Matrix<double>[] hand = [term1, term2, term3, term4];

        var terms = PathContributions.Terms(p, Activation.Tanh, tokens, ExplainParam.W, 4);
        for (int k = 0; k < 4; k++)
        {
            var expected = hand[k].ToRowMajorArray();
            for (int i = 0; i < expected.Length; i++) Assert.Equal(expected[i], terms[k][i], 1e-12);
        }
        Assert.Equal(0.0, Norm(terms[0]));
        Assert.True(hand.Skip(1).All(m => m.FrobeniusNorm() > 1e-6), "the three terms through s_1..s_3 are not zero");
        var sum = Sum(hand.Select(m => m.ToRowMajorArray()));
        Assert.True(RelErr(sum, o.SingleLossGradient(tokens, 4, ExplainParam.W)) <= 1e-12);
        output.WriteLine("‖C[4][k]‖_F, k = 1..4: " + string.Join(", ", hand.Select(m => m.FrobeniusNorm().ToString("e6"))));
    }

    [Fact]
    public async Task Training_changes_the_decay_curve_of_a_tanh_model()
    {
        var corpus = TestUtil.CorpusOf(TestUtil.SmallText(4));
        var config = new TrainConfig
        {
            Hidden = 16, Seq = 24, Batch = 4, Steps = 200, Optimizer = "adam", Lr = 0.02, Clip = 5,
            Activation = "tanh", Precision = "float64", ValFrac = 0, Seed = 7,
        };
        var untrained = new TrainingSession<double>(config, corpus).Params;
        var trained = await ExplainOracle.Train(config, corpus);
        var tokens = corpus.Tokens.Take(41).ToArray(); // T = 40
        var before = PathReport.MeanLog10ByDistance(PathContributions.Compute(untrained, Activation.Tanh, tokens, ExplainParam.W).JacobianSpectral);
        var after = PathReport.MeanLog10ByDistance(PathContributions.Compute(trained, Activation.Tanh, tokens, ExplainParam.W).JacobianSpectral);
        double largest = Enumerable.Range(1, 39).Max(i => Math.Abs(after[i] - before[i]));
        output.WriteLine($"mean log10 ‖∂s_t/∂s_k‖ at distances 1, 5, 10, 20: untrained {before[1]:f2} {before[5]:f2} {before[10]:f2} {before[20]:f2}, trained {after[1]:f2} {after[5]:f2} {after[10]:f2} {after[20]:f2}; largest difference {largest:f2}");
        Assert.True(largest > 0.2, $"the decay curves differ by at most {largest} in log10");
    }

    [Fact]
    public void A_sigmoid_models_implicit_share_is_smaller_than_tanhs_on_the_same_text()
    {
        var corpus = TestUtil.CorpusOf(TestUtil.SmallText(1));
        var tokens = corpus.Tokens.Take(51).ToArray();
        for (long seed = 1; seed <= 5; seed++)
        {
            var p = Initializer.Uniform<double>(new ModelShape(corpus.Vocabulary.Size, 16), seed);
            double tanh = PathContributions.Compute(p, Activation.Tanh, tokens, ExplainParam.W).ImplicitShare;
            double sigmoid = PathContributions.Compute(p, Activation.Sigmoid, tokens, ExplainParam.W).ImplicitShare;
            output.WriteLine($"seed {seed}: implicit share tanh {tanh:f3}, sigmoid {sigmoid:f3}");
            Assert.True(sigmoid < tanh, $"seed {seed}: sigmoid {sigmoid} ≥ tanh {tanh}");
        }
    }

    [Fact]
    public void Sizes_beyond_the_limits_are_named()
    {
        Assert.Null(PathContributions.SizeProblem(100, 128));
        Assert.Contains("at most 1000", PathContributions.SizeProblem(1001, 2));
        var tooMuch = PathContributions.SizeProblem(200, 1024);
        Assert.NotNull(tooMuch);
        Assert.Contains("hidden 1024", tooMuch);
    }
}
