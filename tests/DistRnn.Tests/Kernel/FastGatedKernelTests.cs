using System.Numerics;
using DistRnn.Model;

namespace DistRnn.Tests.Kernel;

/// <summary>The fast lstm and gru kernel against its oracle (<see cref="CellKernel{T}"/>) and its own bits: alone or grouped, any vector width.</summary>
public class FastGatedKernelTests
{
    internal static (int[] Tokens, SequenceRef[] Seqs) Batch(int k, int[] lengths, long seed)
    {
        var tokens = TestUtil.RandomTokens(lengths.Sum() + lengths.Length + 5, k, seed);
        var seqs = new SequenceRef[lengths.Length];
        int at = 0;
        for (int i = 0; i < lengths.Length; i++) { seqs[i] = new SequenceRef(at, lengths[i], Dropout.SequenceKey(seed, 3, i)); at += lengths[i] + 1; }
        return (tokens, seqs);
    }

    [Theory]
    [InlineData(Cell.Lstm, 1, 5, 3, 0.0)]
    [InlineData(Cell.Lstm, 2, 7, 16, 0.0)]
    [InlineData(Cell.Lstm, 2, 7, 16, 0.3)]
    [InlineData(Cell.Lstm, 3, 4, 9, 0.5)]
    [InlineData(Cell.Lstm, 1, 30, 40, 0.2)]
    [InlineData(Cell.Gru, 1, 5, 3, 0.0)]
    [InlineData(Cell.Gru, 2, 7, 16, 0.0)]
    [InlineData(Cell.Gru, 2, 7, 16, 0.3)]
    [InlineData(Cell.Gru, 3, 4, 9, 0.5)]
    [InlineData(Cell.Gru, 1, 30, 40, 0.2)]
    [InlineData(Cell.Rnn, 1, 5, 3, 0.3)]
    [InlineData(Cell.Rnn, 2, 7, 16, 0.0)]
    [InlineData(Cell.Rnn, 3, 30, 40, 0.2)]
    public void Matches_the_oracle_in_float64(Cell cell, int layers, int k, int d, double dropout)
    {
        var shape = new ModelShape(k, d, cell, layers);
        var p = TestUtil.RandomParams<double>(shape, seed: 40 + d, scale: 1.0 / Math.Sqrt(d));
        var (tokens, seqs) = Batch(k, [12, 12, 5, 12, 1, 9], seed: d);
        var act = cell == Cell.Rnn && layers == 2 ? Activation.Sigmoid : Activation.Tanh; // rnn's σ either way
        var gOracle = new Tensors<double>(shape); var gFast = new Tensors<double>(shape);
        double lOracle = new CellKernel<double>(dropout).Accumulate(p, act, tokens, seqs, gOracle);
        double lFast = new FastGatedKernel<double>(dropout).Accumulate(p, act, tokens, seqs, gFast);
        Assert.InRange(Math.Abs(lOracle - lFast) / lOracle, 0, 1e-12);
        double scale = gOracle.Data.Max(Math.Abs);
        for (int i = 0; i < shape.Count; i++)
            Assert.True(Math.Abs(gOracle.Data[i] - gFast.Data[i]) <= 1e-11 * scale, $"{shape.NameOf(i)}: fast {gFast.Data[i]:R}, oracle {gOracle.Data[i]:R}");
        double evalOracle = CellKernel<double>.NoDropout.Loss(p, act, tokens, seqs);
        Assert.InRange(Math.Abs(evalOracle - new FastGatedKernel<double>(dropout).Loss(p, act, tokens, seqs)) / evalOracle, 0, 1e-12);
    }

    [Theory]
    [InlineData(Cell.Lstm)]
    [InlineData(Cell.Gru)]
    [InlineData(Cell.Rnn)]
    public void Matches_the_oracle_in_float32(Cell cell)
    {
        var shape = new ModelShape(11, 24, cell, 2);
        var p = TestUtil.RandomParams<float>(shape, seed: 5, scale: 0.2);
        var (tokens, seqs) = Batch(11, [20, 20, 20, 7], seed: 6);
        var gOracle = new Tensors<float>(shape); var gFast = new Tensors<float>(shape);
        double lOracle = new CellKernel<float>(0.25).Accumulate(p, Activation.Tanh, tokens, seqs, gOracle);
        double lFast = new FastGatedKernel<float>(0.25).Accumulate(p, Activation.Tanh, tokens, seqs, gFast);
        Assert.InRange(Math.Abs(lOracle - lFast) / lOracle, 0, 1e-5);
        double scale = gOracle.Data.Max(v => Math.Abs((double)v));
        for (int i = 0; i < shape.Count; i++) Assert.InRange(Math.Abs(gOracle.Data[i] - gFast.Data[i]), 0, 1e-4 * scale);
    }

    private struct Collect<T>(List<(T[] Grad, double Loss, long Chars)> into) : IShardSink<T> where T : unmanaged, IFloatingPointIeee754<T>
    {
        public void OnShard(int shard, Tensors<T>? grad, double loss, long chars) => into.Add(((T[])grad!.Data.Clone(), loss, chars));
    }

    private static void SameBitsAloneGroupedAndAnyWidth<T>(Cell cell, int hidden) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var shape = new ModelShape(9, hidden, cell, 2);
        var p = TestUtil.RandomParams<T>(shape, seed: 8, scale: 0.3);
        var (tokens, seqs) = Batch(9, [10, 10, 3, 10, 10, 6, 10, 1], seed: 9);
        int[] bounds = [0, 2, 3, 6, 8];
        foreach (bool wide in new[] { true, false })
        {
            var grouped = new List<(T[], double, long)>();
            var sink = new Collect<T>(grouped);
            new FastGatedKernel<T>(0.4, wide).Run(p, Activation.Tanh, tokens, seqs, bounds, gradients: true, ref sink);
            for (int j = 0; j < 4; j++)
            {
                var alone = new Tensors<T>(shape);
                double loss = new FastGatedKernel<T>(0.4, !wide).Accumulate(p, Activation.Tanh, tokens, seqs[bounds[j]..bounds[j + 1]], alone);
                Assert.Equal(loss, grouped[j].Item2);
                Assert.Equal(alone.Data, grouped[j].Item1);
            }
        }
    }

    [Fact]
    public void A_shards_bits_are_the_same_alone_grouped_and_at_any_vector_width()
    {
        // hidden 13: every gate row padded; 24: lstm's 4d (and gru's 3d on 256 bits) a whole number of tiles, so the
        // weight gradients are written straight into the gradient
        foreach (var cell in new[] { Cell.Lstm, Cell.Gru, Cell.Rnn })
            foreach (int hidden in new[] { 13, 24 })
            {
                SameBitsAloneGroupedAndAnyWidth<float>(cell, hidden);
                SameBitsAloneGroupedAndAnyWidth<double>(cell, hidden);
            }
    }

    [Fact]
    public void Kernels_picks_it_for_every_model_but_todays()
    {
        Assert.IsType<FastGatedKernel<float>>(Kernels.For<float>(new ModelShape(5, 4, Cell.Lstm, 2), 0.1));
        Assert.IsType<FastGatedKernel<float>>(Kernels.For<float>(new ModelShape(5, 4, Cell.Gru, 1)));
        Assert.IsType<FastGatedKernel<float>>(Kernels.For<float>(new ModelShape(5, 4, Cell.Rnn, 2)));
        Assert.IsType<FastGatedKernel<float>>(Kernels.For<float>(new ModelShape(5, 4), 0.1));
        Assert.Same(FastKernel<float>.Instance, Kernels.For<float>(new ModelShape(5, 4)));
    }
}
