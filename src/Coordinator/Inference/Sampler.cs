using System.Globalization;
using System.Numerics;
using DistRnn.Data;
using DistRnn.Model;
using DistRnn.Util;

namespace DistRnn.Coordinator.Inference;

/// <summary>
/// Which characters a draw may pick (truncation sampling), applied to y = softmax(z / temperature):
/// top-k keeps the K most probable; top-p (nucleus) keeps the fewest most probable whose probability adds up
/// to at least P of what is kept. With both, top-p applies to the top K (renormalised), as Hugging Face's
/// samplers do. The order is by probability, ties by vocabulary order, so the set is fixed by the model alone.
/// Null = no limit; <see cref="None"/> keeps every character and leaves the draw exactly as without the options.
/// </summary>
public readonly record struct Truncation(int? TopK = null, double? TopP = null)
{
    public static readonly Truncation None = new();

    /// <summary>The options' values, checked: K an integer ≥ 1, 0 &lt; P ≤ 1.</summary>
    public Truncation Validated()
    {
        if (TopK is int k && k < 1) throw new InputException($"--top-k {k}: must be an integer of at least 1");
        if (TopP is double p && !(p > 0 && p <= 1))
            throw new InputException($"--top-p {p.ToString(CultureInfo.InvariantCulture)}: must be greater than 0 and at most 1");
        return this;
    }

    /// <summary>True when every one of <paramref name="vocab"/> characters stays a candidate: the draw is the plain one.</summary>
    public bool KeepsAll(int vocab) => (TopK is null || TopK >= vocab) && (TopP is null || TopP >= 1);
}

/// <summary>Generates text: feed the prime through the model, then draw each next character from softmax(z/temperature), truncated.</summary>
public static class Sampler
{
    public static string Sample<T>(Tensors<T> p, Activation act, Vocabulary vocab, string prime, int length, double temperature, long seed,
        Truncation truncation = default)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (length < 0) throw new InputException($"--length {length}: must not be negative");
        if (!(temperature > 0) || double.IsInfinity(temperature)) throw new InputException($"--temperature {temperature}: must be a positive number");
        truncation.Validated();
        var ids = vocab.Encode(prime, "--prime");
        if (ids.Length == 0) throw new InputException("--prime: must not be empty");
        int k = p.Shape.K;
        var s = new T[p.Shape.StateSize]; var next = new T[p.Shape.StateSize];
        var z = new double[k];
        var order = new int[k];
        var rng = Rng.For(seed, Rng.Purpose.Sample, 0);
        var output = new System.Text.StringBuilder(prime);
        int x = ids[0];
        for (int i = 0; i < ids.Length + length - 1; i++)
        {
            RnnCell.Step(p, act, x, s, next);
            (s, next) = (next, s);
            if (i + 1 < ids.Length) { x = ids[i + 1]; continue; }
            RnnCell.Logits(p, s, z, temperature);
            RnnCell.LogSoftmax(z);
            x = Draw(z, rng.NextDouble(), truncation, order);
            output.Append(vocab.Symbols[x]);
        }
        return output.ToString();
    }

    /// <summary>
    /// The character whose share of the cumulative probability holds <paramref name="u"/> ∈ [0, 1): over the
    /// whole vocabulary in vocabulary order when nothing is cut; otherwise over the kept characters, most probable
    /// first, with u scaled to their total. <paramref name="order"/>: scratch of k entries.
    /// </summary>
    internal static int Draw(double[] logProbs, double u, Truncation truncation, int[] order)
    {
        int k = logProbs.Length;
        double acc = 0;
        if (truncation.KeepsAll(k))
        {
            for (int i = 0; i < k; i++)
            {
                acc += DetMath.Exp(logProbs[i]);
                if (u < acc) return i;
            }
            return k - 1;
        }
        int kept = Kept(logProbs, truncation, order);
        double mass = 0;
        for (int i = 0; i < kept; i++) mass += DetMath.Exp(logProbs[order[i]]);
        double target = u * mass;
        for (int i = 0; i < kept; i++)
        {
            acc += DetMath.Exp(logProbs[order[i]]);
            if (target < acc) return order[i];
        }
        return order[kept - 1];
    }

    /// <summary>
    /// Fills <paramref name="order"/> with the characters most probable first (ties: vocabulary order) and returns
    /// how many of them the truncation keeps (at least one).
    /// </summary>
    internal static int Kept(double[] logProbs, Truncation truncation, int[] order)
    {
        int k = logProbs.Length;
        for (int i = 0; i < k; i++) order[i] = i;
        Array.Sort(order, (a, b) => logProbs[b].CompareTo(logProbs[a]) is var c and not 0 ? c : a.CompareTo(b));
        int kept = Math.Min(truncation.TopK ?? k, k);
        if (truncation.TopP is double p && p < 1)
        {
            double total = 0;
            for (int i = 0; i < kept; i++) total += DetMath.Exp(logProbs[order[i]]);
            double acc = 0;
            int n = 0;
            while (n < kept)
            {
                acc += DetMath.Exp(logProbs[order[n++]]);
                if (acc >= p * total) break;
            }
            kept = n;
        }
        return kept;
    }
}
