using DistRnn.Compute;
using DistRnn.Configuration;
using DistRnn.Coordinator.Inference;
using DistRnn.Coordinator.Training;
using DistRnn.Model;

namespace DistRnn.Tests.Training;

/// <summary>The lecture's example: vocabulary d, e, p and a stop symbol, trained on "deep\n", completes "d" to "eep\n".</summary>
public class ToyExampleTests
{
    [Theory]
    [InlineData("tanh", "float64")]
    [InlineData("sigmoid", "float64")]
    [InlineData("tanh", "float32")]
    public async Task Learns_to_complete_d_to_eep(string activation, string precision)
    {
        var corpus = TestUtil.CorpusOf("deep\n");
        Assert.Equal(["\n", "d", "e", "p"], corpus.Vocabulary.Symbols);
        var config = new TrainConfig
        {
            Hidden = 8, Seq = 4, Batch = 1, Steps = 300, Optimizer = "adam", Lr = 0.05, Clip = 5,
            Activation = activation, Precision = precision, ValFrac = 0, Seed = 3,
        };
        string completion = precision == "float32" ? await TrainAndComplete<float>(config, corpus) : await TrainAndComplete<double>(config, corpus);
        Assert.Equal("eep\n", completion);
    }

    private static async Task<string> TrainAndComplete<T>(TrainConfig config, DistRnn.Data.Corpus corpus) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        var session = new TrainingSession<T>(config, corpus);
        using var computer = new SubtreeComputer<T>(Kernels.Default<T>(), 1);
        var source = new LocalGradientSource<T>(computer, session.Activation, corpus.Tokens, session.ShardCount);
        for (long step = 1; step <= config.Steps; step++)
            {
                using var sum = await source.ComputeAsync(step, session.Params, session.BatchFor(step), null, CancellationToken.None);
                session.Apply(sum.Sum);
            }

        // Greedy decoding from "d" until the stop symbol (bounded).
        var vocab = corpus.Vocabulary;
        int d = config.Hidden, x = vocab.IndexOf(new System.Text.Rune('d'));
        var s = new T[d]; var next = new T[d]; var z = new double[vocab.Size];
        var output = new System.Text.StringBuilder();
        for (int i = 0; i < 10; i++)
        {
            RnnCell.Step(session.Params, session.Activation, x, s, next);
            (s, next) = (next, s);
            RnnCell.Logits(session.Params, s, z);
            x = Array.IndexOf(z, z.Max());
            output.Append(vocab.Symbols[x]);
            if (vocab.Symbols[x] == "\n") break;
        }
        return output.ToString();
    }
}
