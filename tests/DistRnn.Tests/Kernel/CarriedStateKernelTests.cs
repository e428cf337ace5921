using System.Numerics;
using DistRnn.Model;

namespace DistRnn.Tests.Kernel;

/// <summary>
/// The kernels with a carried state (--state carry): the gradient of a window with its incoming state held fixed
/// against finite differences, the fast kernel against the plain one (gradients and final states), and a state handed
/// from one window to the next equal to the state of one long window.
/// </summary>
public sealed class CarriedStateKernelTests
{
    private struct Sink<T> : IShardSink<T> where T : unmanaged, IFloatingPointIeee754<T>
    {
        public List<(Tensors<T>? Grad, double Loss, long Chars)> Shards;
        public void OnShard(int shard, Tensors<T>? grad, double loss, long chars) =>
            (Shards ??= new()).Add((grad?.Clone(), loss, chars));
    }

    private static (List<(Tensors<T>? Grad, double Loss, long Chars)> Shards, T[] Final) Run<T>(IShardKernel<T> kernel, Tensors<T> p, Activation act, int[] tokens,
        SequenceRef[] seqs, int[] bounds, T[] initial, bool gradients = true) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var final = new T[initial.Length];
        var sink = new Sink<T>();
        kernel.Run(p, act, tokens, seqs, bounds, gradients, ref sink, null, new CarriedState<T>(initial, final));
        return (sink.Shards, final);
    }

    private static T[] RandomStates<T>(int n, int seed) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => T.CreateTruncating(rng.NextDouble() * 1.6 - 0.8)).ToArray();
    }

    [Theory]
    [InlineData(3, 2, 5, true)]
    [InlineData(5, 4, 12, false)]
    [InlineData(7, 9, 20, true)]
    public void A_windows_gradient_with_its_incoming_state_held_fixed_matches_finite_differences(int k, int d, int t, bool tanh)
    {
        var act = tanh ? Activation.Tanh : Activation.Sigmoid;
        var shape = new ModelShape(k, d);
        var p = TestUtil.RandomParams<double>(shape, seed: k * 100 + d, scale: Math.Min(0.6, 1.2 / Math.Sqrt(d)));
        var tokens = TestUtil.RandomTokens(t + 1, k, seed: t);
        var s0 = RandomStates<double>(d, seed: d);
        SequenceRef[] seq = [new SequenceRef(0, t)];
        var (shards, _) = Run(PlainKernel<double>.Instance, p, act, tokens, seq, [0, 1], s0);
        var grad = shards[0].Grad!;
        double Loss() => Run(PlainKernel<double>.Instance, p, act, tokens, seq, [0, 1], s0, gradients: false).Shards[0].Loss;

        const double h = 1e-3;
        double maxRel = 0;
        for (int i = 0; i < p.Data.Length; i++)
        {
            double orig = p.Data[i];
            double F(double delta) { p.Data[i] = orig + delta; double l = Loss(); p.Data[i] = orig; return l; }
            double fd = (-F(2 * h) + 8 * F(h) - 8 * F(-h) + F(-2 * h)) / (12 * h);
            double a = grad.Data[i];
            maxRel = Math.Max(maxRel, Math.Abs(a - fd) / Math.Max(Math.Max(Math.Abs(a), Math.Abs(fd)), 1e-4));
        }
        Assert.True(maxRel <= 1e-7, $"max relative error {maxRel:E2}");
        // the incoming state matters: the same window from s_0 = 0 has another gradient (the test could fail)
        var reset = new Tensors<double>(shape);
        PlainKernel<double>.Instance.Accumulate(p, act, tokens, seq, reset);
        Assert.NotEqual(reset.Data, grad.Data);
    }

    [Theory]
    [InlineData(7, 13, new[] { 9, 3, 9, 1 }, 2)]
    [InlineData(33, 65, new[] { 20, 20, 20, 20, 20 }, 3)]
    [InlineData(64, 65, new[] { 16, 16, 16, 16 }, 4)]
    public void The_fast_kernel_matches_the_plain_one_with_carried_states(int d, int k, int[] lengths, int shards)
    {
        var shape = new ModelShape(k, d);
        var p = FastKernelTests.RandomParams<double>(shape, d + k, 0.6 / Math.Sqrt(d) + 0.05);
        var tokens = FastKernelTests.RandomTokens(400, k, d);
        var seqs = FastKernelTests.RandomSeqs(lengths, 400, k);
        var bounds = Enumerable.Range(0, shards + 1).Select(j => j * seqs.Length / shards).ToArray();
        var s0 = RandomStates<double>(seqs.Length * d, seed: k);
        var fast = Run(FastKernel<double>.Instance, p, Activation.Tanh, tokens, seqs, bounds, s0);
        var plain = Run(PlainKernel<double>.Instance, p, Activation.Tanh, tokens, seqs, bounds, s0);
        for (int i = 0; i < s0.Length; i++) Assert.Equal(plain.Final[i], fast.Final[i], 1e-12);
        for (int j = 0; j < shards; j++)
        {
            Assert.Equal(plain.Shards[j].Loss, fast.Shards[j].Loss, 1e-9);
            Assert.Equal(plain.Shards[j].Chars, fast.Shards[j].Chars);
            var (a, b) = (fast.Shards[j].Grad!.Data, plain.Shards[j].Grad!.Data);
            double scale = b.Max(Math.Abs);
            for (int i = 0; i < a.Length; i++) Assert.True(Math.Abs(a[i] - b[i]) <= 1e-12 * scale, $"shard {j} value {i}: {a[i]} vs {b[i]}");
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_shard_computed_with_others_has_the_bits_of_the_shard_alone(bool wide)
    {
        var shape = new ModelShape(30, 24);
        var kernel = new FastKernel<float>(wide);
        var p = FastKernelTests.RandomParams<float>(shape, 3, 0.2);
        var tokens = FastKernelTests.RandomTokens(300, 30, 4);
        var seqs = FastKernelTests.RandomSeqs([12, 12, 12, 12, 12, 12], 300, 5);
        var s0 = RandomStates<float>(6 * 24, 6);
        var together = Run(kernel, p, Activation.Tanh, tokens, seqs, [0, 2, 4, 6], s0);
        for (int j = 0; j < 3; j++)
        {
            var alone = Run(kernel, p, Activation.Tanh, tokens, seqs[(2 * j)..(2 * j + 2)], [0, 2], s0[(48 * j)..(48 * j + 48)]);
            Assert.Equal(alone.Shards[0].Grad!.Data, together.Shards[j].Grad!.Data);
            Assert.Equal(alone.Shards[0].Loss, together.Shards[j].Loss);
            Assert.Equal(alone.Final, together.Final[(48 * j)..(48 * j + 48)]);
        }
    }

    [Fact]
    public void Two_windows_with_the_state_handed_over_read_like_one_long_window()
    {
        var shape = new ModelShape(11, 16);
        HandOver([PlainKernel<double>.Instance, FastKernel<double>.Instance], FastKernelTests.RandomParams<double>(shape, 8, 0.3), FastKernelTests.RandomTokens(61, 11, 9));
    }

    /// <summary>Windows [0, 30) then [30, 60) with the state handed over: the final state and loss of [0, 60).</summary>
    private static void HandOver(IShardKernel<double>[] kernels, Tensors<double> p, int[] tokens)
    {
        var zero = new double[p.Shape.StateSize];
        foreach (var kernel in kernels)
        {
            var whole = Run(kernel, p, Activation.Tanh, tokens, [new SequenceRef(0, 60)], [0, 1], zero, gradients: false);
            var first = Run(kernel, p, Activation.Tanh, tokens, [new SequenceRef(0, 30)], [0, 1], zero, gradients: false);
            var second = Run(kernel, p, Activation.Tanh, tokens, [new SequenceRef(30, 30)], [0, 1], first.Final, gradients: false);
            Assert.Equal(whole.Final, second.Final);   // the same recurrence, step for step
            Assert.Equal(whole.Shards[0].Loss, first.Shards[0].Loss + second.Shards[0].Loss, 1e-10);
            var reset = Run(kernel, p, Activation.Tanh, tokens, [new SequenceRef(30, 30)], [0, 1], zero, gradients: false);
            Assert.NotEqual(reset.Final, second.Final);
        }
    }

    // ---- every cell and depth (lstm, gru, stacked rnn, dropout): CellKernel the oracle, FastGatedKernel the fast one ----

    /// <summary>Each cell's cases: stacked rnn, lstm and gru of 1 and 2 layers (the 1-layer rnn is above).</summary>
    public static TheoryData<Cell, int, double> CellCases() => new()
    {
        { Cell.Rnn, 2, 0.0 }, { Cell.Rnn, 2, 0.3 }, { Cell.Rnn, 1, 0.3 },
        { Cell.Lstm, 1, 0.0 }, { Cell.Lstm, 2, 0.0 }, { Cell.Lstm, 2, 0.3 },
        { Cell.Gru, 1, 0.0 }, { Cell.Gru, 2, 0.0 }, { Cell.Gru, 2, 0.3 },
    };

    [Theory]
    [MemberData(nameof(CellCases))]
    public void The_fast_gated_kernel_matches_the_oracle_with_carried_states(Cell cell, int layers, double dropout)
    {
        const int k = 9, d = 13;
        var shape = new ModelShape(k, d, cell, layers);
        var p = TestUtil.RandomParams<double>(shape, seed: 40 + layers, scale: 1.0 / Math.Sqrt(d));
        var (tokens, seqs) = FastGatedKernelTests.Batch(k, [12, 12, 5, 12, 1, 9], seed: d + layers);
        int[] bounds = [0, 2, 3, 6];
        var s0 = RandomStates<double>(seqs.Length * shape.StateSize, seed: layers * 10 + (int)cell);
        foreach (bool gradients in new[] { true, false })
        {
            var oracle = Run(new CellKernel<double>(dropout), p, Activation.Tanh, tokens, seqs, bounds, s0, gradients);
            var fast = Run(new FastGatedKernel<double>(dropout), p, Activation.Tanh, tokens, seqs, bounds, s0, gradients);
            for (int i = 0; i < s0.Length; i++) Assert.True(Math.Abs(oracle.Final[i] - fast.Final[i]) <= 1e-13, $"final state value {i}: fast {fast.Final[i]:R}, oracle {oracle.Final[i]:R}");
            for (int j = 0; j < 3; j++)
            {
                Assert.InRange(Math.Abs(oracle.Shards[j].Loss - fast.Shards[j].Loss) / oracle.Shards[j].Loss, 0, 1e-12);
                Assert.Equal(oracle.Shards[j].Chars, fast.Shards[j].Chars);
                if (!gradients) continue;
                var (a, b) = (fast.Shards[j].Grad!.Data, oracle.Shards[j].Grad!.Data);
                double scale = b.Max(Math.Abs);
                for (int i = 0; i < a.Length; i++) Assert.True(Math.Abs(a[i] - b[i]) <= 1e-11 * scale, $"shard {j} {shape.NameOf(i)}: fast {a[i]:R}, oracle {b[i]:R}");
            }
        }
        // the carried state matters (the test could fail): from zero states, another gradient and other final states
        var fromZero = Run(new FastGatedKernel<double>(dropout), p, Activation.Tanh, tokens, seqs, bounds, new double[s0.Length]);
        var carried = Run(new FastGatedKernel<double>(dropout), p, Activation.Tanh, tokens, seqs, bounds, s0);
        Assert.NotEqual(fromZero.Shards[0].Grad!.Data, carried.Shards[0].Grad!.Data);
        Assert.NotEqual(fromZero.Final, carried.Final);
        // and zero carried states are the reset computation
        var reset = new Tensors<double>(shape);
        double resetLoss = new FastGatedKernel<double>(dropout).Accumulate(p, Activation.Tanh, tokens, seqs[..2], reset);
        Assert.Equal(resetLoss, fromZero.Shards[0].Loss, 1e-12);
        for (int i = 0; i < reset.Data.Length; i++) Assert.Equal(reset.Data[i], fromZero.Shards[0].Grad!.Data[i], 1e-14);
    }

    private static void SameBitsAloneGroupedAndAnyWidthWithCarry<T>(Cell cell, int layers) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var shape = new ModelShape(9, 13, cell, layers);
        int n = shape.StateSize;
        var p = TestUtil.RandomParams<T>(shape, seed: 8, scale: 0.3);
        var (tokens, seqs) = FastGatedKernelTests.Batch(9, [10, 10, 3, 10, 10, 6, 10, 1], seed: 9);
        int[] bounds = [0, 2, 3, 6, 8];
        var s0 = RandomStates<T>(seqs.Length * n, seed: 12);
        foreach (bool wide in new[] { true, false })
        {
            var grouped = Run(new FastGatedKernel<T>(0.4, wide), p, Activation.Tanh, tokens, seqs, bounds, s0);
            for (int j = 0; j < 4; j++)
            {
                var (from, to) = (bounds[j], bounds[j + 1]);
                var alone = Run(new FastGatedKernel<T>(0.4, !wide), p, Activation.Tanh, tokens, seqs[from..to], [0, to - from], s0[(from * n)..(to * n)]);
                Assert.Equal(alone.Shards[0].Loss, grouped.Shards[j].Loss);
                Assert.Equal(alone.Shards[0].Grad!.Data, grouped.Shards[j].Grad!.Data);
                Assert.Equal(alone.Final, grouped.Final[(from * n)..(to * n)]);
            }
        }
    }

    [Fact]
    public void A_gated_shards_bits_and_final_states_are_the_same_alone_grouped_and_at_any_vector_width()
    {
        foreach (var (cell, layers) in new[] { (Cell.Lstm, 2), (Cell.Gru, 2), (Cell.Rnn, 2), (Cell.Lstm, 1) })
        {
            SameBitsAloneGroupedAndAnyWidthWithCarry<float>(cell, layers);
            SameBitsAloneGroupedAndAnyWidthWithCarry<double>(cell, layers);
        }
    }

    [Theory]
    [InlineData(Cell.Lstm)]
    [InlineData(Cell.Gru)]
    [InlineData(Cell.Rnn)]
    public void The_fast_gated_kernel_matches_the_oracle_with_carried_states_in_float32(Cell cell)
    {
        var shape = new ModelShape(11, 24, cell, 2);
        var p = TestUtil.RandomParams<float>(shape, seed: 5, scale: 0.2);
        var (tokens, seqs) = FastGatedKernelTests.Batch(11, [20, 20, 20, 7], seed: 6);
        var s0 = RandomStates<float>(seqs.Length * shape.StateSize, seed: 7);
        var oracle = Run(new CellKernel<float>(0.25), p, Activation.Tanh, tokens, seqs, [0, 4], s0);
        var fast = Run(new FastGatedKernel<float>(0.25), p, Activation.Tanh, tokens, seqs, [0, 4], s0);
        Assert.InRange(Math.Abs(oracle.Shards[0].Loss - fast.Shards[0].Loss) / oracle.Shards[0].Loss, 0, 1e-5);
        for (int i = 0; i < s0.Length; i++) Assert.InRange(Math.Abs(oracle.Final[i] - fast.Final[i]), 0, 1e-5f);
        double scale = oracle.Shards[0].Grad!.Data.Max(v => Math.Abs((double)v));
        for (int i = 0; i < shape.Count; i++) Assert.InRange(Math.Abs(oracle.Shards[0].Grad!.Data[i] - fast.Shards[0].Grad!.Data[i]), 0, 1e-4 * scale);
    }

    [Theory]
    [MemberData(nameof(CellCases))]
    public void A_cells_windows_gradient_with_its_incoming_state_held_fixed_matches_finite_differences(Cell cell, int layers, double dropout)
    {
        const int k = 4, d = 3, t = 12;
        var shape = new ModelShape(k, d, cell, layers);
        var p = TestUtil.RandomParams<double>(shape, seed: k * 1000 + d * 100 + t + layers * 7 + (int)cell * 13, scale: Math.Min(0.6, 1.2 / Math.Sqrt(d)));
        var tokens = TestUtil.RandomTokens(t + 1, k, seed: t * 31 + k + layers);
        SequenceRef[] seq = [new SequenceRef(0, t, Dropout.SequenceKey(seed: 3, step: t, index: layers))];
        var s0 = RandomStates<double>(shape.StateSize, seed: layers + 17 * (int)cell);
        var kernel = new CellKernel<double>(dropout);
        var (shards, _) = Run(kernel, p, Activation.Tanh, tokens, seq, [0, 1], s0);
        var grad = shards[0].Grad!;
        // the training pass's loss (dropout's masks of the sequence's key), the incoming state fixed
        double Loss() => Run(kernel, p, Activation.Tanh, tokens, seq, [0, 1], s0).Shards[0].Loss;

        // CellGradientTests' seven-point centered stencil at two step sizes (an element passes when either agrees)
        double maxRel = 0; int worst = -1;
        for (int i = 0; i < p.Data.Length; i++)
        {
            double orig = p.Data[i];
            double F(double delta) { p.Data[i] = orig + delta; double l = Loss(); p.Data[i] = orig; return l; }
            double Fd(double h) => (F(3 * h) - 9 * F(2 * h) + 45 * F(h) - 45 * F(-h) + 9 * F(-2 * h) - F(-3 * h)) / (60 * h);
            double a = grad.Data[i];
            double Rel(double fd) => Math.Abs(a - fd) / Math.Max(Math.Max(Math.Abs(a), Math.Abs(fd)), 1e-4);
            double rel = Math.Min(Rel(Fd(4e-3)), Rel(Fd(2e-3)));
            if (rel > maxRel) { maxRel = rel; worst = i; }
        }
        Console.WriteLine(FormattableString.Invariant($"carried finite differences {cell} L={layers} dropout {dropout}: max relative error {maxRel:E2}"));
        Assert.True(maxRel <= 1e-7, $"max relative error {maxRel:E2} at {shape.NameOf(worst)}");
        // the incoming state matters: the same window from zero states has another gradient (the test could fail)
        var reset = new Tensors<double>(shape);
        kernel.Accumulate(p, Activation.Tanh, tokens, seq, reset);
        Assert.NotEqual(reset.Data, grad.Data);
    }

    [Theory]
    [MemberData(nameof(CellCases))]
    public void A_cells_two_windows_with_the_state_handed_over_read_like_one_long_window(Cell cell, int layers, double dropout)
    {
        var shape = new ModelShape(11, 16, cell, layers);
        // loss-only passes (no dropout there: the kernel's p only masks passes that compute gradients)
        HandOver([new CellKernel<double>(dropout), new FastGatedKernel<double>(dropout)], TestUtil.RandomParams<double>(shape, seed: 8, scale: 0.3), TestUtil.RandomTokens(61, 11, seed: 9));
    }
}
