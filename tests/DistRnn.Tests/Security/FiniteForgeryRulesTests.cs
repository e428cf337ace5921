using System.Numerics;
using DistRnn.Coordinator.Scheduling;
using DistRnn.Coordinator.Verification;
using DistRnn.Model;
using DistRnn.Protocol;
using DistRnn.Reduction;

namespace DistRnn.Tests.Security;

/// <summary>
/// The decisions against overflow by finite pieces, as plain logic: which pieces are suspect (the threshold below which
/// no sum of pieces can overflow), the loss bound per character (sound for honest kernels, tight), who is the liar after
/// a recomputation, and what a forgery may cost in recomputations.
/// </summary>
public sealed class FiniteForgeryRulesTests
{
    // ---- the overflow threshold: MaxValue / S ----

    [Fact]
    public void Pieces_at_the_threshold_never_overflow_the_tree_and_one_just_above_can_and_is_suspect()
    {
        const int shards = 8;
        var shape = new ModelShape(3, 2);
        var v32 = new GradientValidator<float>(shape, shards);
        var v64 = new GradientValidator<double>(shape, shards);
        float safe32 = float.MaxValue / shards;
        double safe64 = double.MaxValue / shards;

        // the worst case: every shard a piece of its own, all at the threshold with one sign: the root is exactly MaxValue
        Assert.Equal(float.MaxValue, TreeSum(shards, Enumerable.Repeat(safe32, shards).ToArray()));
        Assert.Equal(double.MaxValue, TreeSum(shards, Enumerable.Repeat(safe64, shards).ToArray()));
        Assert.True(v32.CheckValues(new Subtree(0, 0), Filled(shape, safe32)).IsAccepted);
        Assert.True(v64.CheckValues(new Subtree(0, 0), Filled(shape, -safe64)).IsAccepted);

        // one step above it: the sum overflows, and that piece is suspect
        var above = Enumerable.Repeat(safe32, shards).ToArray();
        above[5] = float.BitIncrement(safe32);
        Assert.Equal(float.PositiveInfinity, TreeSum(shards, above));
        var verdict = v32.CheckValues(new Subtree(0, 5), Filled(shape, above[5]));
        Assert.Equal(GradientVerdictKind.Suspect, verdict.Kind);
        Assert.Contains("could overflow", verdict.Reason);
        var above64 = Enumerable.Repeat(safe64, shards).ToArray();
        above64[0] = double.BitIncrement(safe64);
        Assert.Equal(double.PositiveInfinity, TreeSum(shards, above64));
        Assert.Equal(GradientVerdictKind.Suspect, v64.CheckValues(new Subtree(0, 0), Filled(shape, -above64[0])).Kind);
    }

    [Fact]
    public void A_large_value_is_found_at_every_position_and_named()
    {
        // a model big enough that most values lie in the vectorised part of the scan
        var shape = new ModelShape(7, 9);
        var v = new GradientValidator<float>(shape, 4);
        foreach (int at in new[] { 0, 1, shape.VOffset + 3, shape.Count - 2, shape.Count - 1 })
        {
            var g = Filled(shape, 0.5f);
            g[at] = -float.MaxValue;
            var verdict = v.CheckValues(new Subtree(0, 1), g);
            Assert.Equal(GradientVerdictKind.Suspect, verdict.Kind);
            Assert.Contains("could overflow", verdict.Reason);
            g[at] = float.NaN; // a non-finite value is named as such, before any large one
            Assert.Contains("NaN", v.CheckValues(new Subtree(0, 1), g).Reason);
        }
    }

    [Fact]
    public void A_loss_beyond_what_the_parameters_allow_is_refused_and_one_that_could_overflow_the_sum_is_suspect()
    {
        var shape = new ModelShape(5, 3);
        var v = new GradientValidator<double>(shape, 8);
        var node = new Subtree(1, 2);
        var zero = LossBound.For(new Tensors<double>(shape)); // ln 5 + 1 nats a character
        GradientVerdict Check(double loss, LossBound bound) => v.CheckHeader(7, 7, node, true, 28, loss, 28, shape.Count, bound);

        Assert.True(Check(28 * Math.Log(5), zero).IsAccepted);  // what all-zero parameters honestly cost
        var refused = Check(1e308, zero);
        Assert.Equal(GradientVerdictKind.Reject, refused.Kind);
        Assert.Contains("per character", refused.Reason);
        Assert.Equal(GradientVerdictKind.Reject, Check(28 * (Math.Log(5) + 1.01), zero).Kind);

        // parameters so large that no bound holds: a loss above double.MaxValue / S may still overflow the sum, so it is recomputed
        var huge = new Tensors<double>(shape);
        huge.C.Fill(double.MaxValue);
        var unbounded = LossBound.For(huge);
        Assert.True(Check(double.MaxValue / 8, unbounded).IsAccepted);
        Assert.Equal(GradientVerdictKind.Suspect, Check(double.MaxValue / 4, unbounded).Kind);
    }

    // ---- the loss bound is sound and tight for the kernels that compute honest losses ----

    [Theory]
    [InlineData(Activation.Tanh, false)]
    [InlineData(Activation.Sigmoid, false)]
    [InlineData(Activation.Tanh, true)]
    [InlineData(Activation.Sigmoid, true)]
    public void The_loss_bound_holds_for_the_worst_honest_loss_and_is_tight(Activation act, bool fast)
    {
        Check<float>(act, fast);
        Check<double>(act, fast);

        static void Check<T>(Activation act, bool fast) where T : unmanaged, IFloatingPointIeee754<T>
        {
            // s_t ≈ 1 (U = W = 0, b large), V pushes one logit to +d·A and the target's to −d·A: the most a character can cost
            const int d = 8, k = 5, target = 3, chars = 40;
            const double a = 100;
            var p = new Tensors<T>(new ModelShape(k, d));
            p.B.Fill(T.CreateTruncating(50));
            for (int j = 0; j < d; j++)
            {
                p.V[j * k + 0] = T.CreateTruncating(a);
                p.V[j * k + target] = T.CreateTruncating(-a);
            }
            var tokens = Enumerable.Repeat(target, chars + 1).ToArray();
            IShardKernel<T> kernel = fast ? Kernels.Default<T>() : PlainKernel<T>.Instance;
            double loss = kernel.Accumulate(p, act, tokens, [new SequenceRef(0, chars)], new Tensors<T>(p.Shape));

            var bound = LossBound.For(p);
            Assert.True(loss <= bound.Max(chars), $"honest loss {loss} above the bound {bound.Max(chars)}");
            Assert.True(loss >= 0.99 * bound.Max(chars), $"honest loss {loss}, the bound {bound.Max(chars)}: not tight");
            // what the smallest positive y would give, −log(2^−1074) = 744.4 nats, is no bound on this kernel's loss
            Assert.True(loss / chars > 745, $"{loss / chars} nats a character");
        }
    }

    // ---- who lied ----

    [Fact]
    public void The_sender_lied_when_its_piece_differs_from_the_recomputation()
    {
        var shape = new ModelShape(3, 2);
        ShardSum<float> Sum(float value, double loss = 40, long chars = 24) => new(new Tensors<float>(shape, Filled(shape, value)), loss, chars);
        var honest = Sum(0.25f);

        Assert.False(RecomputeVerdict.SenderLied(Sum(0.25f), honest));
        Assert.False(RecomputeVerdict.SenderLied(Sum(0.25f, loss: 40 * (1 + 1e-12)), honest)); // another host's log
        Assert.True(RecomputeVerdict.SenderLied(Sum(0.25f, loss: 41), honest));
        Assert.True(RecomputeVerdict.SenderLied(Sum(0.25f, chars: 23), honest));
        var oneBit = Sum(0.25f);
        oneBit.Grad.Data[4] = float.BitIncrement(0.25f);
        Assert.True(RecomputeVerdict.SenderLied(oneBit, honest));
        Assert.True(RecomputeVerdict.SenderLied(Sum(float.MaxValue), honest));
        Assert.True(RecomputeVerdict.SenderLied(Sum(float.NaN), honest));

        // both non-finite: the parameters diverge, nobody lied; finite where the honest sum is not: a lie
        var diverged = Sum(float.PositiveInfinity);
        Assert.False(RecomputeVerdict.SenderLied(Sum(float.NaN), diverged));
        Assert.False(RecomputeVerdict.SenderLied(Sum(0.25f, loss: double.PositiveInfinity), diverged));
        Assert.True(RecomputeVerdict.SenderLied(Sum(0.25f), diverged));
    }

    // ---- the step's decisions ----

    private static readonly ModelShape Shape = new(5, 3);
    private const int Shards = 4, Seq = 6;
    private static readonly SequenceRef[] Batch = Enumerable.Range(0, 8).Select(i => new SequenceRef(i, Seq)).ToArray();
    private static readonly TimeSpan At = TimeSpan.FromSeconds(1);

    private static StepRound<string, double> Round() =>
        new("run", 3, new Tensors<double>(Shape), Batch, Shards, new GradientValidator<double>(Shape, Shards),
            BackupPolicy.Off, TimeSpan.FromSeconds(5), () => new double[Shape.Count]);

    private static SubtreeResult Result(Subtree node, double value, double loss = 2) =>
        new("run", 3, node, loss, node.Count * 2L * Seq, TensorPayload.Wrap(Enumerable.Repeat(value, Shape.Count).ToArray()));

    private static ShardSum<double> Honest(Subtree node, double value) =>
        new(new Tensors<double>(Shape, Enumerable.Repeat(value, Shape.Count).ToArray()), 2, node.Count * 2L * Seq);

    [Fact]
    public void Halves_that_would_overflow_together_are_each_recomputed_the_liar_is_named_and_the_step_gets_honest_bits()
    {
        var r = Round();
        r.Give(r.Start(["A", "B"]), TimeSpan.Zero); // A: L1#0, B: L1#1
        double half = double.MaxValue / 2;            // finite, but two of them overflow
        var left = r.Offer("A", Result(new Subtree(0, 0), half), At);
        var right = r.Offer("A", Result(new Subtree(0, 1), half), At);
        Assert.Equal((ResultAction.Verify, ResultAction.Verify), (left.Action, right.Action));
        Assert.Contains("could overflow", left.Reason);
        // the whole of its share is being recomputed: a third piece costs nothing more
        Assert.Equal(ResultAction.Ignore, r.Offer("A", Result(new Subtree(1, 0), half), At).Action);

        Assert.Equal((true, false), r.Verified(new Subtree(0, 0), left.Sent!, Honest(new Subtree(0, 0), 1)));
        Assert.Equal((true, false), r.Verified(new Subtree(0, 1), right.Sent!, Honest(new Subtree(0, 1), 2)));
        Assert.False(r.Diverged);
        Assert.Equal(ResultAction.Accepted, r.Offer("B", Result(new Subtree(1, 1), 4), At).Action);
        Assert.True(r.IsComplete);
        Assert.All(r.Result.Grad.Data, v => Assert.Equal(1 + 2 + 4.0, v));
    }

    [Fact]
    public void Honest_large_pieces_are_recomputed_found_equal_and_kept_and_an_honest_overflow_still_skips_the_step()
    {
        var r = Round();
        r.Give(r.Start(["A", "B"]), TimeSpan.Zero);
        double large = double.MaxValue * 0.75; // what a diverging run could honestly send; two of them overflow
        var a = r.Offer("A", Result(new Subtree(1, 0), large), At);
        var b = r.Offer("B", Result(new Subtree(1, 1), large), At);
        Assert.Equal((ResultAction.Verify, ResultAction.Verify), (a.Action, b.Action));
        Assert.Equal((false, false), r.Verified(new Subtree(1, 0), a.Sent!, Honest(new Subtree(1, 0), large)));
        Assert.Equal((false, false), r.Verified(new Subtree(1, 1), b.Sent!, Honest(new Subtree(1, 1), large)));
        Assert.True(r.IsComplete);
        Assert.All(r.Result.Grad.Data, v => Assert.Equal(double.PositiveInfinity, v)); // genuine: the training loop skips it
    }

    [Fact]
    public void A_worker_s_suspect_pieces_are_recomputed_for_no_more_shards_than_it_was_given()
    {
        var r = Round();
        r.Give(r.Start(["A", "B"]), TimeSpan.Zero); // A: L1#0, two shards
        Assert.Equal(ResultAction.Verify, r.Offer("A", Result(new Subtree(0, 0), double.NaN), At).Action);
        Assert.Equal(ResultAction.Verify, r.Offer("A", Result(new Subtree(0, 1), double.NaN), At).Action);
        // the shards it was given are spent: a further piece (inside its share, so not a stranger's) is not recomputed
        var sent = r.Offer("A", Result(new Subtree(1, 0), double.NaN), At);
        Assert.Equal(ResultAction.Ignore, sent.Action);
        // a piece inside one being recomputed is not recomputed again, whoever sends it
        var again = Round();
        again.Give(again.Start(["A", "B"]), TimeSpan.Zero);
        again.Give([new Assignment<string>("B", [new Subtree(0, 0)])], At); // a backup of A's left half
        Assert.Equal(ResultAction.Verify, again.Offer("A", Result(new Subtree(1, 0), double.NaN), At).Action);
        Assert.Equal(ResultAction.Ignore, again.Offer("B", Result(new Subtree(0, 0), double.NaN), At).Action);
    }

    [Fact]
    public void A_loss_beyond_the_bound_excludes_its_sender_without_a_recomputation()
    {
        var r = Round();
        r.Give(r.Start(["A", "B"]), TimeSpan.Zero);
        var d = r.Offer("A", Result(new Subtree(0, 0), 0.5, loss: 1e308), At);
        Assert.Equal(ResultAction.Exclude, d.Action);
        Assert.Contains("per character", d.Reason);
    }

    // ---- helpers ----

    private static T[] Filled<T>(ModelShape shape, T value) => Enumerable.Repeat(value, shape.Count).ToArray();

    /// <summary>The step's sum of one value per shard, through the reduction tree the coordinator uses.</summary>
    private static T TreeSum<T>(int shards, T[] leaves) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var shape = new ModelShape(1, 1);
        var tree = new ReductionTree<ShardSum<T>>(Subtree.Root(shards), ShardSum<T>.Combine);
        for (int j = 0; j < shards; j++) tree.Offer(new Subtree(0, j), new ShardSum<T>(new Tensors<T>(shape, Filled(shape, leaves[j])), 0, 1));
        return tree.Result.Grad.Data[0];
    }
}
