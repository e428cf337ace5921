using DistRnn.Coordinator.Inference;
using DistRnn.Data;
using DistRnn.Model;
using Xunit;

namespace DistRnn.Tests.Inference;

public class SamplerTests
{
    private static readonly Vocabulary Vocab = new(["\n", " ", "a", "b", "c", "д", "春", "😀"]);

    private static Tensors<double> Model(long seed = 11) => TestUtil.RandomParams<double>(new ModelShape(Vocab.Size, 8), seed, scale: 1.0);

    private static string Sample(Truncation t, long seed = 5, double temperature = 0.9) =>
        Sampler.Sample(Model(), Activation.Tanh, Vocab, "a😀", 60, temperature, seed, t);

    /// <summary>The texts this code drew before --top-k/--top-p existed (pinned then): without them nothing changes.</summary>
    [Fact]
    public void Without_options_the_bits_are_those_of_before_the_options_existed()
    {
        Assert.Equal("a😀дддaaacдддд\nддддaдддaддддддaдaддaдaддa春春春😀дддa😀aдддддддддaдa", Sample(Truncation.None));
        var f = Sampler.Sample(TestUtil.RandomParams<float>(new ModelShape(Vocab.Size, 8), 12, scale: 1.0), Activation.Sigmoid, Vocab, "春", 60, 1.0, 6);
        Assert.Equal("春\n\nд\nд\n д д\n\n😀\nд春😀\n\n春\n春д\n\n\n\n\n\n\n д\n\n\n\n\n\n\n  д😀д\n\n\n\n\na\n \n\na\nд\nд\n", f);
    }

    [Fact]
    public void P_1_and_K_at_least_the_vocabulary_are_the_plain_draw()
    {
        string plain = Sample(Truncation.None);
        Assert.Equal(plain, Sample(new Truncation(TopP: 1)));
        Assert.Equal(plain, Sample(new Truncation(TopK: Vocab.Size)));
        Assert.Equal(plain, Sample(new Truncation(TopK: 1000, TopP: 1)));
    }

    [Fact]
    public void Same_seed_same_text()
    {
        var t = new Truncation(TopK: 3, TopP: 0.8);
        Assert.Equal(Sample(t, seed: 9), Sample(t, seed: 9));
        Assert.Equal(62, Sample(t, seed: 9).EnumerateRunes().Count()); // prime (2 characters, one beyond the BMP) + 60
    }

    [Fact]
    public void K_1_is_the_argmax_at_every_step()
    {
        var p = Model();
        string text = Sampler.Sample(p, Activation.Tanh, Vocab, "a😀", 60, 0.7, 3, new Truncation(TopK: 1));
        var ids = Vocab.Encode(text, "sample");
        Replay(p, ids, 2, (z, next) => Assert.Equal(ArgMax(z), next));
    }

    /// <summary>Every drawn character is inside the top-k set and the nucleus of the distribution it was drawn from (recomputed here).</summary>
    [Theory]
    [InlineData(3, null)]
    [InlineData(null, 0.5)]
    [InlineData(4, 0.7)]
    public void Every_character_is_drawn_from_inside_the_kept_set(int? topK, double? topP)
    {
        var p = Model(21);
        const double temperature = 1.3;
        var seen = new HashSet<int>();
        for (long seed = 1; seed <= 5; seed++)
        {
            string text = Sampler.Sample(p, Activation.Tanh, Vocab, "a😀", 80, temperature, seed, new Truncation(topK, topP));
            Replay(p, Vocab.Encode(text, "sample"), 2, (z, next) =>
            {
                for (int i = 0; i < z.Length; i++) z[i] /= temperature;
                RnnCell.LogSoftmax(z);
                var y = z.Select(Math.Exp).ToArray();
                // Ranked by probability, ties by vocabulary order.
                var ranked = Enumerable.Range(0, y.Length).OrderByDescending(i => y[i]).ThenBy(i => i).ToList();
                var kept = ranked.Take(topK ?? y.Length).ToList();
                if (topP is double pp)
                {
                    double total = kept.Sum(i => y[i]), acc = 0;
                    kept = kept.TakeWhile(i => { bool before = acc < pp * total + 1e-12; acc += y[i]; return before; }).ToList();
                }
                Assert.Contains(next, kept);
                seen.Add(next);
            });
        }
        Assert.True(seen.Count > 1, "the draws never varied: the test would not notice a draw that ignores the distribution");
    }

    /// <summary>y = (0.1, 0.4, 0.2, 0.3): ranked 1, 3, 2, 0; the nucleus of P is the shortest prefix of that order holding P.</summary>
    [Theory]
    [InlineData(2, null, new[] { 1, 3 })]
    [InlineData(1, null, new[] { 1 })]
    [InlineData(null, 0.35, new[] { 1 })]
    [InlineData(null, 0.6, new[] { 1, 3 })]
    [InlineData(null, 0.75, new[] { 1, 3, 2 })]
    [InlineData(null, 0.95, new[] { 1, 3, 2, 0 })]
    [InlineData(3, 0.7, new[] { 1, 3 })]      // the top 3 hold 0.9, 0.7 of it is 0.63: 0.4 + 0.3 reaches it
    [InlineData(3, 0.8, new[] { 1, 3, 2 })]   // 0.8 of 0.9 is 0.72: 0.4 + 0.3 does not reach it
    public void The_kept_set_is_the_hand_computed_one(int? topK, double? topP, int[] expected)
    {
        double[] logY = [Math.Log(0.1), Math.Log(0.4), Math.Log(0.2), Math.Log(0.3)];
        var order = new int[4];
        int kept = Sampler.Kept(logY, new Truncation(topK, topP), order);
        Assert.Equal(expected, order[..kept]);
        // A draw lands in the set for every u, and u's place in the kept mass picks in that order.
        for (double u = 0; u < 1; u += 0.01) Assert.Contains(Sampler.Draw(logY, u, new Truncation(topK, topP), order), expected);
    }

    [Theory]
    [InlineData(0, null, "--top-k 0")]
    [InlineData(-3, null, "--top-k -3")]
    [InlineData(null, 0.0, "--top-p 0")]
    [InlineData(null, 1.5, "--top-p 1.5")]
    [InlineData(null, double.NaN, "--top-p NaN")]
    public void Bad_values_are_input_errors_naming_the_option(int? topK, double? topP, string named)
    {
        var e = Assert.Throws<InputException>(() => Sample(new Truncation(topK, topP)));
        Assert.StartsWith(named + ":", e.Message);
    }

    /// <summary>Feeds <paramref name="ids"/> through the model; for each generated position (from <paramref name="primeLength"/>) calls back with the logits it was drawn from and the character drawn.</summary>
    private static void Replay(Tensors<double> p, int[] ids, int primeLength, Action<double[], int> check)
    {
        var s = new double[p.Shape.D]; var next = new double[p.Shape.D];
        for (int t = 0; t + 1 < ids.Length; t++)
        {
            RnnCell.Step(p, Activation.Tanh, ids[t], s, next);
            (s, next) = (next, s);
            if (t + 1 < primeLength) continue;
            var z = new double[p.Shape.K];
            RnnCell.Logits(p, s, z);
            check(z, ids[t + 1]);
        }
    }

    private static int ArgMax(double[] z)
    {
        int best = 0;
        for (int i = 1; i < z.Length; i++) if (z[i] > z[best]) best = i;
        return best;
    }
}
