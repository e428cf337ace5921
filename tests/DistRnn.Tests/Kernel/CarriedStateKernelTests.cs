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
        var p = FastKernelTests.RandomParams<double>(shape, 8, 0.3);
        var tokens = FastKernelTests.RandomTokens(61, 11, 9);
        var zero = new double[16];
        foreach (var kernel in new IShardKernel<double>[] { PlainKernel<double>.Instance, FastKernel<double>.Instance })
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
}
