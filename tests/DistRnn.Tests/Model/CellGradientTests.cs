using DistRnn.Data;
using DistRnn.Model;

namespace DistRnn.Tests.Model;

/// <summary>
/// The gated and stacked models' oracle (<see cref="CellKernel{T}"/>): its BPTT against centered finite differences on
/// every parameter element, with and without dropout (masks are fixed by the sequence's key, so the loss stays a smooth
/// function of the parameters); the layout; and the 1-layer rnn against today's kernel.
/// </summary>
public class CellGradientTests
{
    public static TheoryData<Cell, int, int, int, int> Cases()
    {
        var data = new TheoryData<Cell, int, int, int, int>();
        foreach (var cell in new[] { Cell.Rnn, Cell.Lstm, Cell.Gru })
        foreach (int layers in new[] { 1, 2, 3 })
        foreach (var (k, d, T) in new[] { (2, 1, 1), (3, 2, 7), (5, 4, 30), (4, 3, 12) })
            data.Add(cell, layers, k, d, T);
        return data;
    }

    /// <summary>Loss with the dropout masks of the sequence's key (a pass that computes gradients), its gradient discarded.</summary>
    private static double TrainingLoss(CellKernel<double> kernel, Tensors<double> p, int[] tokens, SequenceRef seq, Tensors<double> scratch)
    {
        scratch.Clear();
        return kernel.Accumulate(p, Activation.Tanh, tokens, [seq], scratch);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Every_parameter_matches_centered_finite_differences(Cell cell, int layers, int k, int d, int T)
    {
        double worstOfAll = 0;
        foreach (double dropout in new[] { 0.0, 0.3 })
        {
            var shape = new ModelShape(k, d, cell, layers);
            var p = TestUtil.RandomParams<double>(shape, seed: k * 1000 + d * 100 + T + layers * 7 + (int)cell * 13, scale: Math.Min(0.6, 1.2 / Math.Sqrt(d)));
            var tokens = TestUtil.RandomTokens(T + 1, k, seed: T * 31 + k + layers);
            var seq = new SequenceRef(0, T, Dropout.SequenceKey(seed: 3, step: T, index: layers));
            var kernel = new CellKernel<double>(dropout);
            var grad = new Tensors<double>(shape);
            double loss = kernel.Accumulate(p, Activation.Tanh, tokens, [seq], grad);
            var scratch = new Tensors<double>(shape);
            Assert.Equal(TrainingLoss(kernel, p, tokens, seq, scratch), loss);

            // Seven-point centered stencil at two step sizes: truncation O(h⁶) shrinks with h while the rounding of the
            // loss (≈ ε·L/h, L up to ~50 nats at T = 30, against the 1e-4 floor of small elements) grows, and which one
            // dominates differs by element (deep lstm at T = 30 needs the larger h, masks with dropout the smaller), so
            // an element passes when either estimate agrees with the analytic gradient to 1e-7 (a wrong gradient
            // agrees with neither).
            double maxRel = 0; int worst = -1;
            for (int i = 0; i < p.Data.Length; i++)
            {
                double orig = p.Data[i];
                double F(double delta) { p.Data[i] = orig + delta; double l = TrainingLoss(kernel, p, tokens, seq, scratch); p.Data[i] = orig; return l; }
                double Fd(double h) => (F(3 * h) - 9 * F(2 * h) + 45 * F(h) - 45 * F(-h) + 9 * F(-2 * h) - F(-3 * h)) / (60 * h);
                double a = grad.Data[i];
                double Rel(double fd) => Math.Abs(a - fd) / Math.Max(Math.Max(Math.Abs(a), Math.Abs(fd)), 1e-4);
                double rel = Math.Min(Rel(Fd(4e-3)), Rel(Fd(2e-3)));
                if (rel > maxRel) { maxRel = rel; worst = i; }
            }
            Assert.True(maxRel <= 1e-7, $"max relative error {maxRel:E2} at parameter {worst} ({cell}, {layers} layers, k={k}, d={d}, T={T}, dropout {dropout})");
            worstOfAll = Math.Max(worstOfAll, maxRel);
        }
        Console.WriteLine(FormattableString.Invariant($"finite differences {cell} L={layers} k={k} d={d} T={T}: max relative error {worstOfAll:E2}"));
    }

    [Theory]
    [InlineData(Activation.Tanh)]
    [InlineData(Activation.Sigmoid)]
    public void A_1_layer_rnn_is_todays_model(Activation act)
    {
        var shape = new ModelShape(7, 5);
        Assert.Equal(shape, new ModelShape(7, 5, Cell.Rnn, 1));
        Assert.Equal((0, 35, 60, 95, 100, 107), (shape.UOffset, shape.WOffset, shape.VOffset, shape.BOffset, shape.COffset, shape.Count));
        var p = TestUtil.RandomParams<double>(shape, seed: 3);
        var tokens = TestUtil.RandomTokens(41, 7, seed: 4);
        SequenceRef[] seqs = [new(0, 20), new(5, 35), new(30, 10)];
        var gPlain = new Tensors<double>(shape);
        var gCell = new Tensors<double>(shape);
        double lPlain = PlainKernel<double>.Instance.Accumulate(p, act, tokens, seqs, gPlain);
        double lCell = CellKernel<double>.NoDropout.Accumulate(p, act, tokens, seqs, gCell);
        Assert.InRange(Math.Abs(lPlain - lCell) / lPlain, 0, 1e-13);
        double scale = gPlain.Data.Max(Math.Abs);
        for (int i = 0; i < shape.Count; i++) Assert.InRange(Math.Abs(gPlain.Data[i] - gCell.Data[i]), 0, 1e-13 * scale);
        Assert.Same(FastKernel<double>.Instance, Kernels.For<double>(shape));
        Assert.IsType<FastGatedKernel<double>>(Kernels.For<double>(shape, dropout: 0.1));
    }

    [Fact]
    public void The_layout_tiles_the_flat_vector_in_the_documented_order()
    {
        foreach (var cell in new[] { Cell.Rnn, Cell.Lstm, Cell.Gru })
        foreach (int layers in new[] { 1, 2, 3 })
        {
            var s = new ModelShape(6, 4, cell, layers);
            int g = cell.Gates(), at = 0;
            for (int l = 0; l < layers; l++)
            {
                Assert.Equal(at, s.InWeightOffset(l)); at += (l == 0 ? 6 : 4) * g * 4;
                Assert.Equal(at, s.RecWeightOffset(l)); at += 4 * g * 4;
            }
            Assert.Equal(at, s.VOffset); at += 4 * 6;
            for (int l = 0; l < layers; l++)
            {
                Assert.Equal(at, s.BiasOffset(l)); at += g * 4;
                if (cell == Cell.Gru) { Assert.Equal(at, s.BiasHOffset(l)); at += g * 4; }
            }
            Assert.Equal(at, s.COffset); at += 6;
            Assert.Equal(at, s.Count);
            Assert.Null(s.Problem());
            Assert.Equal(layers * (cell == Cell.Lstm ? 2 : 1) * 4, s.StateSize);
        }
    }

    [Fact]
    public void Dropout_masks_depend_on_the_sequence_layer_and_time_alone()
    {
        var a = new double[64]; var b = new double[64];
        Dropout.Fill(Dropout.SequenceKey(1, 5, 3), 1, 7, 0.5, a);
        Dropout.Fill(Dropout.SequenceKey(1, 5, 3), 1, 7, 0.5, b);
        Assert.Equal(a, b);
        Assert.All(a, m => Assert.True(m == 0 || m == 2));
        Assert.InRange(a.Count(m => m == 0), 16, 48);
        foreach (var (seed, step, index, layer, t) in new[] { (2L, 5L, 3, 1, 7), (1L, 6L, 3, 1, 7), (1L, 5L, 4, 1, 7), (1L, 5L, 3, 0, 7), (1L, 5L, 3, 1, 8) })
        {
            Dropout.Fill(Dropout.SequenceKey(seed, step, index), layer, t, 0.5, b);
            Assert.NotEqual(a, b);
        }
        // the training batch carries each sequence's key; evaluation windows none (and no pass without gradients drops)
        var plan = new BatchPlan(seed: 1, trainLength: 1000, seqLen: 10, batch: 4);
        var seqs = plan.ForStep(5);
        for (int i = 0; i < 4; i++) Assert.Equal(Dropout.SequenceKey(1, 5, i), seqs[i].DropoutKey);
    }

    [Theory]
    [InlineData(Cell.Lstm)]
    [InlineData(Cell.Gru)]
    [InlineData(Cell.Rnn)]
    public void Dropout_applies_to_training_passes_only(Cell cell)
    {
        var shape = new ModelShape(5, 4, cell, 2);
        var p = TestUtil.RandomParams<double>(shape, seed: 9);
        var tokens = TestUtil.RandomTokens(31, 5, seed: 2);
        SequenceRef[] seqs = [new(0, 30, Dropout.SequenceKey(1, 1, 0))];
        var kernel = new CellKernel<double>(0.5);
        double evalLoss = kernel.Loss(p, Activation.Tanh, tokens, seqs);
        Assert.Equal(CellKernel<double>.NoDropout.Loss(p, Activation.Tanh, tokens, seqs), evalLoss);
        double trainLoss = kernel.Accumulate(p, Activation.Tanh, tokens, seqs, new Tensors<double>(shape));
        Assert.NotEqual(evalLoss, trainLoss);
    }

    [Theory]
    [InlineData(Cell.Lstm)]
    [InlineData(Cell.Gru)]
    public void Float32_is_close_to_float64(Cell cell)
    {
        var shape = new ModelShape(6, 8, cell, 2);
        var p64 = TestUtil.RandomParams<double>(shape, seed: 11, scale: 0.3);
        var p32 = new Tensors<float>(shape, p64.Data.Select(v => (float)v).ToArray());
        foreach (ref var v in p64.Data.AsSpan()) v = (float)v;
        var tokens = TestUtil.RandomTokens(41, 6, seed: 12);
        SequenceRef[] seqs = [new(0, 40, Dropout.SequenceKey(1, 1, 0))];
        var g64 = new Tensors<double>(shape); var g32 = new Tensors<float>(shape);
        double l64 = new CellKernel<double>(0.2).Accumulate(p64, Activation.Tanh, tokens, seqs, g64);
        double l32 = new CellKernel<float>(0.2).Accumulate(p32, Activation.Tanh, tokens, seqs, g32);
        Assert.InRange(Math.Abs(l64 - l32) / l64, 0, 1e-5);
        double scale = g64.Data.Max(Math.Abs);
        for (int i = 0; i < shape.Count; i++) Assert.InRange(Math.Abs(g64.Data[i] - g32.Data[i]), 0, 1e-4 * scale);
    }
}

public class CellValidationTests
{
    [Fact]
    public void Every_flat_index_has_a_name_in_its_tensor()
    {
        var s = new ModelShape(3, 2, Cell.Gru, 2);
        Assert.Equal("layers[0].Wx[0,0]", s.NameOf(0));
        Assert.Equal("layers[0].Wh[0,1]", s.NameOf(s.RecWeightOffset(0) + 1));
        Assert.Equal("layers[1].Wx[1,5]", s.NameOf(s.InWeightOffset(1) + 11));
        Assert.Equal("V[1,2]", s.NameOf(s.VOffset + 5));
        Assert.Equal("layers[1].bh[5]", s.NameOf(s.BiasHOffset(1) + 5));
        Assert.Equal("c[2]", s.NameOf(s.Count - 1));
        var names = Enumerable.Range(0, s.Count).Select(s.NameOf).ToList();
        Assert.Equal(s.Count, names.Distinct().Count());
    }

    [Fact]
    public void An_honest_loss_with_dropout_is_within_the_verifiers_bound_though_beyond_the_bound_without_it()
    {
        // The worst honest case: a saturated state (h = 1), V pointing every unit against the target, and a mask that
        // keeps every unit (scaled by 1/(1 − p) = 2): the loss is ≈ 2a·Σ_j m_j = 4·a·d, twice what a model without
        // dropout can cost, so a bound that ignores dropout would refuse an honest worker.
        const int d = 6; const double a = 10, dropout = 0.5;
        var shape = new ModelShape(2, d, Cell.Rnn, 1);
        var p = new Tensors<double>(shape);
        p.B.Fill(20);
        for (int j = 0; j < d; j++) { p.V[j * 2] = -a; p.V[j * 2 + 1] = a; }
        int[] tokens = [0, 0];
        var mask = new double[d];
        int index = Enumerable.Range(0, 100_000).First(i => { Dropout.Fill(Dropout.SequenceKey(1, 1, i), 0, 1, dropout, mask); return mask.All(m => m == 2); });
        SequenceRef[] seq = [new(0, 1, Dropout.SequenceKey(1, 1, index))];
        double loss = new CellKernel<double>(dropout).Accumulate(p, Activation.Tanh, tokens, seq, new Tensors<double>(shape));
        Assert.InRange(loss, 4 * a * d - 1, 4 * a * d + 1);
        Assert.True(loss > DistRnn.Coordinator.Verification.LossBound.For(p).Max(1), "the case is not beyond the bound without dropout");
        Assert.True(loss <= DistRnn.Coordinator.Verification.LossBound.For(p, dropout).Max(1), $"honest loss {loss} above the bound with dropout");
    }
}
