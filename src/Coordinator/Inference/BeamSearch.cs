using System.Numerics;
using System.Text;
using DistRnn.Data;
using DistRnn.Model;

namespace DistRnn.Coordinator.Inference;

/// <summary>A completion of a prefix: its characters (a final newline included) and P(completion | prefix) = Π y_t[c_t].</summary>
public sealed record Completion(string Text, double LogProbability, bool EndsAtNewline)
{
    public double Probability => Math.Exp(LogProbability);
}

/// <summary>
/// The K most probable completions of a prefix under the model, by beam search. A completion ends at its
/// first newline (included) or after <c>maxLength</c> characters; its probability is the product of
/// y_t[next character] over the completion's characters, given the prefix:
/// <code>
///   s_t = σ(x_t U + s_{t−1} W + b),  y_t = softmax(s_t V + c),  log P = Σ log y_t[c_{t+1}]
/// </code>
/// Each length keeps the <c>beamWidth</c> most probable unfinished hypotheses; every finished one is
/// considered. Since log P only falls as a hypothesis grows, the search stops as soon as no unfinished
/// hypothesis can beat the K-th finished one, and the answer is exact whenever the beam never had to drop
/// a hypothesis (beamWidth ≥ the number of live hypotheses at every length).
/// Deterministic: ties are broken by the completion's characters in vocabulary order.
/// </summary>
public static class BeamSearch
{
    /// <summary>Default beam width for <paramref name="top"/> answers: wide enough that small K is usually exact.</summary>
    public static int DefaultWidth(int top) => Math.Max(16, 4 * top);

    public static IReadOnlyList<Completion> Complete<T>(Tensors<T> p, Activation act, Vocabulary vocab, string prefix, int top, int maxLength, int beamWidth = 0)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (top < 1) throw new InputException($"--top {top}: must be at least 1");
        if (maxLength < 1) throw new InputException($"--max-length {maxLength}: must be at least 1");
        if (beamWidth < 0) throw new InputException($"--beam-width {beamWidth}: must not be negative (0 = default)");
        if (beamWidth == 0) beamWidth = DefaultWidth(top);
        var ids = vocab.Encode(prefix, "--prefix");
        if (ids.Length == 0) throw new InputException("--prefix: must not be empty (the model needs at least one character to start from)");
        int newline = vocab.IndexOf(new Rune('\n'));
        int k = p.Shape.K;

        // Feed the prefix: s holds the state after its last character, the input of the first completion step.
        var s = new T[p.Shape.StateSize];
        var next = new T[p.Shape.StateSize];
        for (int i = 0; i < ids.Length; i++)
        {
            RnnCell.Step(p, act, ids[i], s, next);
            (s, next) = (next, s);
        }

        var live = new List<Hypothesis<T>> { new([], 0, s) };
        var finished = new List<Hypothesis<T>>();
        var logY = new double[k];
        for (int length = 1; length <= maxLength && live.Count > 0; length++)
        {
            var candidates = new List<Hypothesis<T>>();
            foreach (var h in live)
            {
                // y_t = softmax(s_t V + c) for the character after h.
                RnnCell.Logits(p, h.State, logY);
                RnnCell.LogSoftmax(logY);
                for (int c = 0; c < k; c++)
                {
                    var chars = new int[h.Chars.Length + 1];
                    h.Chars.CopyTo(chars, 0);
                    chars[^1] = c;
                    var cand = new Hypothesis<T>(chars, h.LogP + logY[c], h.State);
                    if (c == newline || length == maxLength) finished.Add(cand);
                    else candidates.Add(cand);
                }
            }
            finished.Sort(Hypothesis<T>.Order);
            if (finished.Count > top) finished.RemoveRange(top, finished.Count - top);

            candidates.Sort(Hypothesis<T>.Order);
            // No unfinished hypothesis can gain probability: once the best of them is no better than the K-th
            // finished one, nothing left can enter the answer.
            double bar = finished.Count == top ? finished[^1].LogP : double.NegativeInfinity;
            live = candidates.Take(beamWidth).Where(c => c.LogP > bar).Select(c =>
            {
                var sNext = new T[p.Shape.StateSize];
                RnnCell.Step(p, act, c.Chars[^1], c.State, sNext);
                return c with { State = sNext };
            }).ToList();
        }
        return finished.Select(h => new Completion(vocab.Decode(h.Chars), h.LogP, h.Chars[^1] == newline)).ToList();
    }

    /// <summary>
    /// A partial completion: its characters, log P, and a state: in the beam, s_t after all its characters;
    /// as a fresh candidate, still its parent's (the new character is fed only if the candidate is kept).
    /// </summary>
    private sealed record Hypothesis<T>(int[] Chars, double LogP, T[] State)
    {
        public static readonly Comparison<Hypothesis<T>> Order = (a, b) =>
        {
            int byP = b.LogP.CompareTo(a.LogP);
            if (byP != 0) return byP;
            int n = Math.Min(a.Chars.Length, b.Chars.Length);
            for (int i = 0; i < n; i++) if (a.Chars[i] != b.Chars[i]) return a.Chars[i].CompareTo(b.Chars[i]);
            return a.Chars.Length.CompareTo(b.Chars.Length);
        };
    }
}
