using DistRnn.Coordinator.Verification;
using DistRnn.Model;

namespace DistRnn.Tests.Cluster;

/// <summary>The check of a worker's final states (--state carry) per cell: honest states pass, impossible ones do not.</summary>
public sealed class CarriedStateCheckTests
{
    private struct Keep : IShardSink<double> { public void OnShard(int shard, Tensors<double>? grad, double loss, long chars) { } }

    [Fact]
    public void An_lstms_honest_c_beyond_1_passes_and_a_c_beyond_its_reach_does_not()
    {
        // f, i, g saturated: c grows by almost 1 a step, well beyond σ's range, and honestly so
        var shape = new ModelShape(3, 2, Cell.Lstm, 2);
        var p = new Tensors<double>(shape);
        for (int l = 0; l < 2; l++) p.Bias(l).Fill(30);
        var tokens = TestUtil.RandomTokens(11, 3, seed: 1);
        SequenceRef[] seqs = [new(0, 10)];
        var initial = new double[shape.StateSize];
        initial.AsSpan(4).Fill(3);   // c_0 = 3 in both layers
        var final = new double[initial.Length];
        var sink = new Keep();
        new FastGatedKernel<double>().Run(p, Activation.Tanh, tokens, seqs, [0, 1], gradients: false, ref sink, null, new CarriedState<double>(initial, final));
        Assert.All(final.AsSpan(4).ToArray(), c => Assert.InRange(c, 12.9, 13));
        Assert.Null(CarriedStateCheck.Problem<double>(shape, seqs, initial, final));

        var forged = (double[])final.Clone();
        forged[5] = 13.5;   // more than 10 steps can add to c_0 = 3
        Assert.Contains("final state value 5", CarriedStateCheck.Problem<double>(shape, seqs, initial, forged));
        forged = (double[])final.Clone();
        forged[1] = 1.5;    // an h
        Assert.Contains("final state value 1", CarriedStateCheck.Problem<double>(shape, seqs, initial, forged));
        forged = (double[])final.Clone();
        forged[6] = double.NaN;
        Assert.Contains("not finite", CarriedStateCheck.Problem<double>(shape, seqs, initial, forged));
    }

    [Theory]
    [InlineData(Cell.Rnn)]
    [InlineData(Cell.Gru)]
    public void An_h_outside_minus_1_to_1_is_refused(Cell cell)
    {
        var shape = new ModelShape(3, 2, cell, 2);
        SequenceRef[] seqs = [new(0, 10), new(11, 10)];
        var initial = new double[2 * shape.StateSize];
        var final = new double[initial.Length];
        final.AsSpan().Fill(0.99);
        Assert.Null(CarriedStateCheck.Problem<double>(shape, seqs, initial, final));
        final[6] = -1.01;
        Assert.Contains("final state value 6", CarriedStateCheck.Problem<double>(shape, seqs, initial, final));
    }
}
