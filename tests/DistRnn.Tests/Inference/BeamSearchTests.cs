using DistRnn.Coordinator.Inference;
using DistRnn.Data;
using DistRnn.Model;
using DistRnn.Util;
using Xunit;

namespace DistRnn.Tests.Inference;

public class BeamSearchTests
{
    /// <summary>
    /// U = W = V = 0, b = 0: s_t = 0 and y_t = softmax(c) whatever came before, so a completion's probability
    /// is the product of fixed per-character probabilities and the answer can be worked out by hand.
    /// Vocabulary "\n", "a", "b" with P = 0.2, 0.5, 0.3; max length 3:
    ///   "\n" 0.2 · "aaa" 0.125 (max length) · "a\n" 0.1 · then "aab" = "aba" = "baa" 0.075 …
    /// </summary>
    [Fact]
    public void Constant_distribution_gives_the_hand_computed_top_three()
    {
        var vocab = new Vocabulary(["\n", "a", "b"]);
        var p = new Tensors<double>(new ModelShape(3, 2));
        p.C[0] = Math.Log(0.2); p.C[1] = Math.Log(0.5); p.C[2] = Math.Log(0.3);

        var top = BeamSearch.Complete(p, Activation.Tanh, vocab, "a", top: 3, maxLength: 3);

        Assert.Equal(["\n", "aaa", "a\n"], top.Select(c => c.Text));
        Assert.Equal(0.2, top[0].Probability, 12);
        Assert.Equal(0.125, top[1].Probability, 12);
        Assert.Equal(0.1, top[2].Probability, 12);
        Assert.Equal([true, false, true], top.Select(c => c.EndsAtNewline));
    }

    [Fact]
    public void Ties_are_broken_by_vocabulary_order()
    {
        var vocab = new Vocabulary(["\n", "a", "b"]);
        var p = new Tensors<double>(new ModelShape(3, 2));
        p.C[0] = Math.Log(0.2); p.C[1] = Math.Log(0.5); p.C[2] = Math.Log(0.3);

        var top = BeamSearch.Complete(p, Activation.Tanh, vocab, "b", top: 6, maxLength: 3);

        // After "\n" 0.2, "aaa" 0.125, "a\n" 0.1 come three completions of probability 0.075.
        Assert.Equal(["\n", "aaa", "a\n", "aab", "aba", "baa"], top.Select(c => c.Text));
    }

    /// <summary>With a beam wide enough to keep every hypothesis, beam search must equal exhaustive enumeration.</summary>
    [Theory]
    [InlineData(Activation.Tanh, 1L)]
    [InlineData(Activation.Sigmoid, 2L)]
    public void Wide_beam_equals_brute_force_on_a_random_recurrent_model(Activation act, long seed)
    {
        var vocab = new Vocabulary(["\n", "x", "y", "z"]);
        var p = RandomModel(vocab.Size, 5, seed, scale: 2.0);
        const int maxLength = 4, k = 5;

        var beam = BeamSearch.Complete(p, act, vocab, "xy", top: k, maxLength: maxLength, beamWidth: 1000);
        var brute = Enumerate(p, act, vocab, "xy", maxLength).OrderByDescending(c => c.LogP).Take(k).ToList();

        Assert.Equal(brute.Select(c => c.Text), beam.Select(c => c.Text));
        for (int i = 0; i < k; i++) Assert.Equal(brute[i].LogP, beam[i].LogProbability, 10);
        // Probabilities of all complete strings sum to 1; the top ones are a part of it.
        Assert.InRange(beam.Sum(c => c.Probability), 0, 1);
    }

    [Fact]
    public void All_completions_sum_to_one_when_asked_for_all_of_them()
    {
        var vocab = new Vocabulary(["\n", "x", "y"]);
        var p = RandomModel(vocab.Size, 4, 7, scale: 1.5);
        // Completions of length ≤ 3: "\n", then "x\n" and "y\n", then the 2·2·3 that reach the max length = 15.
        var all = BeamSearch.Complete(p, Activation.Tanh, vocab, "x", top: 100, maxLength: 3, beamWidth: 100);
        Assert.Equal(15, all.Count);
        Assert.Equal(1.0, all.Sum(c => c.Probability), 12);
        Assert.True(all.Zip(all.Skip(1)).All(t => t.First.LogProbability >= t.Second.LogProbability));
    }

    [Fact]
    public void Bad_arguments_are_input_errors()
    {
        var vocab = new Vocabulary(["\n", "a"]);
        var p = new Tensors<double>(new ModelShape(2, 2));
        Assert.Throws<InputException>(() => BeamSearch.Complete(p, Activation.Tanh, vocab, "", 3, 5));
        Assert.Throws<InputException>(() => BeamSearch.Complete(p, Activation.Tanh, vocab, "a", 0, 5));
        Assert.Throws<InputException>(() => BeamSearch.Complete(p, Activation.Tanh, vocab, "a", 3, 0));
        var e = Assert.Throws<InputException>(() => BeamSearch.Complete(p, Activation.Tanh, vocab, "aQ", 3, 5));
        Assert.Contains("--prefix", e.Message);
    }

    private static Tensors<double> RandomModel(int k, int d, long seed, double scale)
    {
        var p = new Tensors<double>(new ModelShape(k, d));
        var rng = new Rng((ulong)seed);
        for (int i = 0; i < p.Data.Length; i++) p.Data[i] = (rng.NextDouble() * 2 - 1) * scale;
        return p;
    }

    /// <summary>Every completion of at most <paramref name="maxLength"/> characters with its log-probability, straight from the definition.</summary>
    private static List<(string Text, double LogP)> Enumerate(Tensors<double> p, Activation act, Vocabulary vocab, string prefix, int maxLength)
    {
        int k = vocab.Size, newline = vocab.IndexOf(new System.Text.Rune('\n'));
        var result = new List<(string, double)>();
        void Walk(List<int> chars)
        {
            // log P(chars | prefix) = Σ_t log y_t[c_t], y_t = softmax(s_t V + c) after feeding prefix + chars[..t].
            var s = new double[p.Shape.D];
            var next = new double[p.Shape.D];
            double logP = 0;
            var z = new double[k];
            var input = vocab.Encode(prefix, "prefix").Concat(chars).ToList();
            for (int t = 0; t < input.Count; t++)
            {
                RnnCell.Step(p, act, input[t], s, next);
                (s, next) = (next, s);
                int generated = t - (input.Count - chars.Count) + 1; // index into chars of the character predicted from here
                if (generated >= 0 && generated < chars.Count)
                {
                    RnnCell.Logits(p, s, z);
                    RnnCell.LogSoftmax(z);
                    logP += z[chars[generated]];
                }
            }
            if (chars.Count > 0 && (chars[^1] == newline || chars.Count == maxLength))
            {
                result.Add((vocab.Decode(chars), logP));
                return;
            }
            for (int c = 0; c < k; c++) Walk([.. chars, c]);
        }
        Walk([]);
        return result;
    }
}
