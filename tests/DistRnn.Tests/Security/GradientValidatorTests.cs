using DistRnn.Coordinator.Verification;
using DistRnn.Model;
using DistRnn.Reduction;
using DistRnn.Security;

namespace DistRnn.Tests.Security;

public class GradientValidatorTests
{
    private static readonly ModelShape Shape = new(5, 3); // k=5, d=3: U 15, W 9, V 15, b 3, c 5 = 47 values
    private const int Shards = 8;                          // root L3#0
    private static readonly SequenceRef[] Batch = Enumerable.Range(0, 16).Select(i => new SequenceRef(i * 10, 7)).ToArray();

    /// <summary>The loss bound of all-zero parameters: ln 5 + 1 nats per character (before rounding slack).</summary>
    private static readonly LossBound Bound = LossBound.For(new Tensors<float>(Shape));

    private static float[] Good() => Enumerable.Range(0, Shape.Count).Select(i => 0.01f * i - 0.2f).ToArray();

    [Fact]
    public void Expected_chars_follow_the_shard_plan()
    {
        Assert.Equal(16 * 7, GradientValidator<float>.ExpectedChars(Batch, Shards, Subtree.Root(Shards)));
        Assert.Equal(2 * 7, GradientValidator<float>.ExpectedChars(Batch, Shards, new Subtree(0, 5)));
        Assert.Equal(8 * 7, GradientValidator<float>.ExpectedChars(Batch, Shards, new Subtree(2, 1)));
        Assert.Equal(-1, GradientValidator<float>.ExpectedChars(Batch, Shards, new Subtree(0, 8)));
        Assert.Equal(-1, GradientValidator<float>.ExpectedChars(Batch, Shards, new Subtree(4, 0)));
        Assert.Equal(-1, GradientValidator<float>.ExpectedChars(Batch, Shards, new Subtree(30, 1)));
        Assert.Equal(-1, GradientValidator<float>.ExpectedChars(Batch, Shards, new Subtree(-1, 0)));
    }

    [Fact]
    public void A_well_formed_result_is_accepted()
    {
        var v = new GradientValidator<float>(Shape, Shards);
        var node = new Subtree(1, 2);
        Assert.True(v.Check(7, 7, node, true, 28, 12.5, 28, Good(), Bound).IsAccepted);
        Assert.True(v.Check(7, 7, Subtree.Root(Shards), true, 112, 0, 112, Good(), Bound).IsAccepted);
    }

    [Fact]
    public void Each_defect_is_rejected_with_a_reason()
    {
        var v = new GradientValidator<float>(Shape, Shards);
        var node = new Subtree(1, 2);
        GradientVerdict Check(long step = 7, Subtree? n = null, bool assigned = true, double loss = 1, long chars = 28, float[]? g = null) =>
            v.Check(7, step, n ?? node, assigned, 28, loss, chars, g ?? Good(), Bound);

        var stale = Check(step: 6);
        Assert.Equal(GradientVerdictKind.Stale, stale.Kind);

        AssertRejected(Check(step: 8), "has not started");
        AssertRejected(Check(n: new Subtree(4, 0)), "not a node");
        AssertRejected(Check(n: new Subtree(1, 4)), "not a node");
        AssertRejected(Check(n: new Subtree(-1, 0)), "not a node");
        AssertRejected(Check(assigned: false), "not given to this worker");
        AssertRejected(Check(g: new float[Shape.Count - 1]), "has 46 values, the model has 47");
        AssertRejected(Check(g: new float[Shape.Count + 3]), "has 50 values");
        AssertRejected(Check(g: []), "has 0 values");
        AssertSuspect(Check(loss: double.NaN), "loss");
        AssertSuspect(Check(loss: double.PositiveInfinity), "loss");
        AssertRejected(Check(loss: -0.5), "negative");
        AssertRejected(Check(chars: 27), "claims 27 predicted characters, its shards hold 28");

        var nan = Good(); nan[Shape.WOffset + 4] = float.NaN;              // W[1,1]
        AssertSuspect(Check(g: nan), "NaN at dW[1,1]");
        var inf = Good(); inf[Shape.COffset + 2] = float.NegativeInfinity;
        AssertSuspect(Check(g: inf), "at dc[2]");
        var huge = Good(); huge[Shape.VOffset + 6] = float.PositiveInfinity; // V is d×k: [1,1]
        AssertSuspect(Check(g: huge), "dV[1,1]");
        var u = Good(); u[7] = float.NaN;
        AssertSuspect(Check(g: u), "dU[2,1]");
        var b = Good(); b[Shape.BOffset] = float.NaN;
        AssertSuspect(Check(g: b), "db[0]");
        // a forged shape or count is rejected even when the values are also non-finite
        AssertRejected(Check(loss: double.NaN, chars: 3), "claims 3");
        var shortNan = new float[Shape.Count - 1]; shortNan[0] = float.NaN;
        AssertRejected(Check(g: shortNan), "has 46 values");
    }

    [Fact]
    public void Float64_values_are_checked_too()
    {
        var v = new GradientValidator<double>(Shape, Shards);
        var g = new double[Shape.Count];
        Assert.True(v.CheckValues(new Subtree(0, 0), g).IsAccepted);
        g[^1] = double.NaN;
        AssertSuspect(v.CheckValues(new Subtree(0, 0), g), "dc[4]");
    }

    [Fact]
    public void Every_position_and_kind_of_non_finite_value_is_found()
    {
        // a bigger model than the others here, so most values lie in the vectorised part of the check
        var shape = new ModelShape(7, 9);
        var v32 = new GradientValidator<float>(shape, Shards);
        var v64 = new GradientValidator<double>(shape, Shards);
        var g32 = new float[shape.Count];
        var g64 = new double[shape.Count];
        // ±MaxValue / Shards (the largest value no sum of the step's pieces can overflow with) and −0 are accepted
        for (int i = 0; i < shape.Count; i++) { g32[i] = (i % 3 - 1) * (float.MaxValue / Shards); g64[i] = (i % 3 - 1) * (double.MaxValue / Shards); }
        g32[5] = -0f; g64[5] = -0d;
        Assert.True(v32.CheckValues(new Subtree(0, 0), g32).IsAccepted);
        Assert.True(v64.CheckValues(new Subtree(0, 0), g64).IsAccepted);
        foreach (int at in new[] { 0, 1, shape.Count / 2, shape.Count - 2, shape.Count - 1 })
        {
            foreach (var bad in new[] { float.NaN, float.PositiveInfinity, float.NegativeInfinity })
            {
                var g = (float[])g32.Clone(); g[at] = bad;
                Assert.Equal(GradientVerdictKind.Suspect, v32.CheckValues(new Subtree(0, 0), g).Kind);
                var h = (double[])g64.Clone(); h[at] = bad;
                Assert.Equal(GradientVerdictKind.Suspect, v64.CheckValues(new Subtree(0, 0), h).Kind);
            }
        }
    }

    private static void AssertSuspect(GradientVerdict verdict, string reason)
    {
        Assert.Equal(GradientVerdictKind.Suspect, verdict.Kind);
        Assert.Contains(reason, verdict.Reason);
    }

    private static void AssertRejected(GradientVerdict verdict, string reason)
    {
        Assert.Equal(GradientVerdictKind.Reject, verdict.Kind);
        Assert.Contains(reason, verdict.Reason);
    }
}
