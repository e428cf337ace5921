using System.CommandLine;
using System.Globalization;
using System.Numerics;
using System.Text.Json;
using DistRnn.Coordinator.Checkpoints;
using DistRnn.Coordinator.Training;
using DistRnn.Data;
using DistRnn.Model;

namespace DistRnn.Coordinator.Commands;

/// <summary>
/// `eval`: loss per character (nats), bits per character and perplexity over consecutive windows of the
/// training sequence length, each from s_0 = 0; default text: the checkpoint's own validation split.
/// </summary>
internal static class EvalCommand
{
    private static readonly Option<string?> CorpusOpt = Options.Optional<string>("--corpus", "Text to evaluate (default: the validation split of the checkpoint's corpus)");
    private static readonly Option<bool> Json = new("--json") { Description = "One JSON line: loss, bits_per_char, perplexity, chars" };

    public static Command Create()
    {
        var cmd = new Command("eval", "Loss, bits per character and perplexity of a checkpoint on a text") { LoadedModel.CheckpointOption, CorpusOpt, Json, Options.Verbose };
        cmd.SetAction(parse =>
        {
            var ck = LoadedModel.Open(parse.GetValue(LoadedModel.CheckpointOption)!);
            var (loss, chars) = LoadedModel.With(ck, new Body(parse.GetValue(CorpusOpt)));
            double bits = loss / Math.Log(2), ppl = Math.Exp(loss);
            if (parse.GetValue(Json))
                Console.WriteLine(JsonSerializer.Serialize(new { loss, bits_per_char = bits, perplexity = ppl, chars }, DistRnn.Util.ReadableJson.Options));
            else
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"loss {loss:F4} nats/char  {bits:F4} bits/char  perplexity {ppl:F3}  over {chars} characters"));
            return Cli.Ok;
        });
        return cmd;
    }

    private sealed record Body(string? CorpusPath) : IModelFunc<(double, long)>
    {
        public (double, long) Invoke<T>(Tensors<T> p, Checkpoint ck) where T : unmanaged, IFloatingPointIeee754<T>
        {
            var cfg = ck.Header.Config;
            int[] tokens; int from, to;
            if (CorpusPath is not null)
            {
                var corpus = Corpus.FromBytes(CorpusPath, InputFile.ReadAllBytes(CorpusPath, "--corpus"), ck.Vocabulary, $"--corpus {CorpusPath}");
                tokens = corpus.Tokens; from = 0; to = tokens.Length;
            }
            else
            {
                var corpus = Corpus.Load(cfg.Corpus);
                if (corpus.Sha256 != ck.Header.CorpusSha256)
                    throw new InputException($"--corpus: the checkpoint's corpus {ck.Header.CorpusName} has changed since training; pass --corpus explicitly");
                tokens = corpus.Tokens; from = corpus.SplitIndex(cfg.ValFrac); to = tokens.Length;
            }
            var windows = BatchPlan.Windows(from, to, cfg.Seq);
            if (windows.Length == 0) throw new InputException("--corpus: fewer than 2 characters to evaluate");
            return Evaluator.Evaluate(Kernels.For<T>(p.Shape), p, cfg.ActivationKind, tokens, windows, Environment.ProcessorCount);
        }
    }
}
