using System.Numerics;
using System.Runtime.InteropServices;
using DistRnn.Model;
using DistRnn.Reduction;

namespace DistRnn.Coordinator.Verification;

public enum GradientVerdictKind
{
    /// <summary>Well-formed: may be offered to the step.</summary>
    Accept,
    /// <summary>For an earlier step: a slow or reassigned worker's late answer; dropped without blame.</summary>
    Stale,
    /// <summary>Malformed or not asked for: dropped, and its sender is excluded from the run.</summary>
    Reject,
    /// <summary>
    /// Well-formed but holding NaN or ±∞, or a value so large that the step's sum of such pieces could overflow: honest
    /// when the parameters themselves diverge (a far too large learning rate), forged otherwise. Not used as it is; the
    /// coordinator recomputes the subtree to decide (<see cref="SubtreeVerifier{T}"/>, <see cref="RecomputeVerdict"/>).
    /// </summary>
    Suspect,
}

public readonly record struct GradientVerdict(GradientVerdictKind Kind, string? Reason)
{
    public static readonly GradientVerdict Accept = new(GradientVerdictKind.Accept, null);
    public static GradientVerdict Stale(string reason) => new(GradientVerdictKind.Stale, reason);
    public static GradientVerdict Reject(string reason) => new(GradientVerdictKind.Reject, reason);
    public static GradientVerdict Suspect(string reason) => new(GradientVerdictKind.Suspect, reason);
    public bool IsAccepted => Kind == GradientVerdictKind.Accept;
}

/// <summary>
/// The check every incoming subtree gradient passes before the model may see it: the step id is the step in
/// flight, the subtree is a node of this step's tree that was given to this sender (or lies inside one), the
/// tensor has exactly the model's shape, the loss is not negative (a sum of −log y), the character count is the
/// one the batch plan gives that subtree, the loss is at most what that many characters can cost with the step's
/// parameters (<see cref="LossBound"/>), and every value and the loss are finite — a non-finite result is
/// <see cref="GradientVerdictKind.Suspect"/> rather than rejected, since honest workers send those too when the
/// parameters diverge.
/// <para>
/// Each piece is checked alone, but the step adds them up, and finite pieces can overflow together (two halves of
/// float.MaxValue each). So a piece is also suspect when one of its values exceeds T.MaxValue / S, or its loss
/// double.MaxValue / S (S the step's shard count, a power of two, so the division is exact): the step's sum is a
/// fixed tree, each node either a piece or the sum of its two children, and by induction over the levels a node of
/// 2^L shards is at most 2^L·(MaxValue / S) in magnitude — |fl(a + b)| ≤ fl(|a| + |b|) since rounding is monotone,
/// and 2^L·(MaxValue / S) is exact — so the root is at most MaxValue. No sum of unsuspected pieces can overflow; and
/// checking each piece as it arrives names its sender, where a sum that overflowed could no longer say whose piece it
/// was (the tree adds in place). Honest pieces come near MaxValue / S only in a run that diverges.
/// </para>
/// Plain logic, no actor: the coordinator calls it and
/// acts on the verdict. What it cannot see is a well-formed but wrong gradient from a worker that holds the
/// secret: registered workers are trusted to compute honestly (see the table in docs/security.md).
/// </summary>
public sealed class GradientValidator<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly ModelShape _shape;
    private readonly Subtree _root;
    /// <summary>The largest gradient value and loss of a piece that no sum of the step's pieces can overflow with (see above).</summary>
    private readonly T _safeValue;
    private readonly double _safeLoss;

    /// <summary>The run's dropout p.</summary>
    public double Dropout { get; }

    /// <param name="dropout">the run's dropout p, which widens the honest loss (<see cref="LossBound.For{T}"/>)</param>
    public GradientValidator(ModelShape shape, int shardCount, double dropout = 0)
    {
        _shape = shape;
        Dropout = dropout;
        _root = Subtree.Root(shardCount);
        _safeValue = T.BitDecrement(T.PositiveInfinity) / T.CreateTruncating(shardCount); // MaxValue / S
        _safeLoss = double.MaxValue / shardCount;
    }

    /// <summary>
    /// Predicted characters of <paramref name="node"/>'s shards in <paramref name="batch"/> (the step's sequences);
    /// −1 for a node outside the tree of <paramref name="shardCount"/> shards (safe to call on hostile input).
    /// </summary>
    public static long ExpectedChars(ReadOnlySpan<SequenceRef> batch, int shardCount, Subtree node)
    {
        if (node.Level < 0 || node.Level > 30 || node.Index < 0 || (long)node.Index + 1 << node.Level > shardCount) return -1;
        long chars = 0;
        for (int shard = node.First; shard < node.First + node.Count; shard++)
            foreach (var s in ShardPlan.Shard(batch, shard, shardCount)) chars += s.Length;
        return chars;
    }

    /// <summary>
    /// Everything but the values (cheap, before the tensor is decoded). <paramref name="assignedToSender"/>:
    /// the sender was given this subtree in this step (at any time — a reassigned node's first owner may still answer);
    /// <paramref name="bound"/>: the step's (<see cref="LossBound.For{T}"/> of its parameters).
    /// </summary>
    public GradientVerdict CheckHeader(long stepInFlight, long step, Subtree node, bool assignedToSender,
        long expectedChars, double loss, long chars, int valueCount, LossBound bound)
    {
        if (step < stepInFlight) return GradientVerdict.Stale($"result for step {step}, the step in flight is {stepInFlight}");
        if (step > stepInFlight) return GradientVerdict.Reject($"result for step {step}, which has not started (the step in flight is {stepInFlight})");
        if (node.Level < 0 || node.Index < 0 || !_root.Contains(node))
            return GradientVerdict.Reject($"subtree {node} is not a node of this step's tree (root {_root})");
        if (!assignedToSender) return GradientVerdict.Reject($"subtree {node} of step {step} was not given to this worker");
        if (valueCount != _shape.Count)
            return GradientVerdict.Reject($"gradient of subtree {node} has {valueCount} values, the model has {_shape.Count} (hidden {_shape.D}, vocabulary {_shape.K})");
        if (loss < 0) return GradientVerdict.Reject($"loss of subtree {node} is negative ({loss}); a sum of −log y is ≥ 0");
        if (chars != expectedChars) return GradientVerdict.Reject($"subtree {node} claims {chars} predicted characters, its shards hold {expectedChars}");
        if (!double.IsFinite(loss)) return GradientVerdict.Suspect($"loss of subtree {node} is {loss}");
        if (loss > bound.Max(chars))
            return GradientVerdict.Reject($"loss of subtree {node} is {loss / chars:G4} per character, more than any character can cost with this step's parameters ({bound.PerChar:G4})");
        if (loss > _safeLoss) return GradientVerdict.Suspect($"loss of subtree {node} is {loss:G4}, so large that the step's sum could overflow");
        return GradientVerdict.Accept;
    }

    /// <summary>Every value finite and none so large that the step's sum could overflow (the tensor already has the model's length).</summary>
    public GradientVerdict CheckValues(Subtree node, ReadOnlySpan<T> gradient)
    {
        if (gradient.Length != _shape.Count)
            return GradientVerdict.Reject($"gradient of subtree {node} has {gradient.Length} values, the model has {_shape.Count}");
        var (finite, largest) = Scan(gradient);
        if (finite && largest <= _safeValue) return GradientVerdict.Accept;
        for (int i = 0; i < gradient.Length; i++)
            if (!T.IsFinite(gradient[i]))
                return GradientVerdict.Suspect($"gradient of subtree {node} holds {gradient[i]} at {Where(i)}");
        for (int i = 0; i < gradient.Length; i++)
            if (T.Abs(gradient[i]) > _safeValue)
                return GradientVerdict.Suspect($"gradient of subtree {node} holds {gradient[i]} at {Where(i)}, so large that the step's sum could overflow");
        return GradientVerdict.Accept;
    }

    /// <summary><see cref="CheckHeader"/> then <see cref="CheckValues"/> (a suspect header is still checked for shape).</summary>
    public GradientVerdict Check(long stepInFlight, long step, Subtree node, bool assignedToSender,
        long expectedChars, double loss, long chars, ReadOnlySpan<T> gradient, LossBound bound)
    {
        var header = CheckHeader(stepInFlight, step, node, assignedToSender, expectedChars, loss, chars, gradient.Length, bound);
        if (header.Kind is GradientVerdictKind.Stale or GradientVerdictKind.Reject) return header;
        var values = CheckValues(node, gradient);
        return values.IsAccepted ? header : values.Kind == GradientVerdictKind.Reject ? values : header.IsAccepted ? values : header;
    }

    /// <summary>
    /// Whether every value is finite and, if so, the largest magnitude, in one pass a vector at a time (this runs on the
    /// coordinator for every result, in the step's critical path): x·0 is ±0 for finite x and NaN for ±∞ and NaN, so
    /// the sum of them all is NaN exactly when one is not finite.
    /// </summary>
    private static (bool Finite, T Largest) Scan(ReadOnlySpan<T> values)
    {
        int i = 0;
        T largest = T.Zero;
        if (Vector.IsHardwareAccelerated && Vector<T>.IsSupported && values.Length >= Vector<T>.Count)
        {
            var vectors = MemoryMarshal.Cast<T, Vector<T>>(values);
            var acc = Vector<T>.Zero;
            var max = Vector<T>.Zero;
            foreach (var v in vectors) { acc += v * Vector<T>.Zero; max = Vector.Max(max, Vector.Abs(v)); }
            if (!Vector.EqualsAll(acc, acc)) return (false, largest);
            for (int j = 0; j < Vector<T>.Count; j++) largest = T.Max(largest, max[j]);
            i = vectors.Length * Vector<T>.Count;
        }
        for (; i < values.Length; i++)
        {
            if (!T.IsFinite(values[i])) return (false, largest);
            largest = T.Max(largest, T.Abs(values[i]));
        }
        return (true, largest);
    }

    /// <summary>Names a flat index by tensor and position, e.g. "dW[3,17]" (gated or stacked models: <see cref="ModelShape.NameOf"/>).</summary>
    private string Where(int i)
    {
        var s = _shape;
        if (!s.IsElman) return "d" + s.NameOf(i);
        if (i < s.WOffset) return $"dU[{i / s.D},{i % s.D}]";
        if (i < s.VOffset) { int j = i - s.WOffset; return $"dW[{j / s.D},{j % s.D}]"; }
        if (i < s.BOffset) { int j = i - s.VOffset; return $"dV[{j / s.K},{j % s.K}]"; }
        if (i < s.COffset) return $"db[{i - s.BOffset}]";
        return $"dc[{i - s.COffset}]";
    }
}
