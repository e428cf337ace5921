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
/// training sequence length, each from s_0 = 0 (or, with --state carry, each from the previous one's final state);
/// default text: the checkpoint's own validation split.
/// </summary>
internal static class EvalCommand
{
    private static readonly Option<string?> CorpusOpt = Options.Optional<string>("--corpus", "Text to evaluate (default: the validation split of the checkpoint's corpus)");
    private static readonly Option<bool> Json = new("--json") { Description = "One JSON line: loss, bits_per_char, perplexity, chars (with --state carry also state and reset_loss)" };
    private static readonly Option<string> State = Options.Make("--state", "reset: every window from s_0 = 0; carry: the text as one stream, each window from the previous one's final state (the reset figure is reported too)", "reset");

    public static Command Create()
    {
        var cmd = new Command("eval", "Loss, bits per character and perplexity of a checkpoint on a text") { LoadedModel.CheckpointOption, CorpusOpt, State, Json, Options.Verbose };
        cmd.SetAction(parse =>
        {
            string state = parse.GetValue(State)!;
            if (state is not ("reset" or "carry")) throw new InputException($"--state {state}: expected reset or carry");
            var ck = LoadedModel.Open(parse.GetValue(LoadedModel.CheckpointOption)!);
            var r = LoadedModel.With(ck, new Body(parse.GetValue(CorpusOpt), state == "carry"));
            double loss = r.Loss, bits = loss / Math.Log(2), ppl = Math.Exp(loss);
            long chars = r.Chars;
            if (parse.GetValue(Json) && r.ResetLoss is double reset)
                Console.WriteLine(JsonSerializer.Serialize(new { loss, bits_per_char = bits, perplexity = ppl, chars, state, reset_loss = reset }, DistRnn.Util.ReadableJson.Options));
            else if (parse.GetValue(Json))
                Console.WriteLine(JsonSerializer.Serialize(new { loss, bits_per_char = bits, perplexity = ppl, chars }, DistRnn.Util.ReadableJson.Options));
            else
            {
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"loss {loss:F4} nats/char  {bits:F4} bits/char  perplexity {ppl:F3}  over {chars} characters{(r.ResetLoss is null ? "" : " (state carried across windows)")}"));
                if (r.ResetLoss is double rl)
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"with every window from s_0 = 0 (--state reset): loss {rl:F4} nats/char  {rl / Math.Log(2):F4} bits/char  perplexity {Math.Exp(rl):F3}"));
            }
            return Cli.Ok;
        });
        return cmd;
    }

    private sealed record Result(double Loss, long Chars, double? ResetLoss);

    private sealed record Body(string? CorpusPath, bool Carry) : IModelFunc<Result>
    {
        public Result Invoke<T>(Tensors<T> p, Checkpoint ck) where T : unmanaged, IFloatingPointIeee754<T>
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
            var kernel = Kernels.For<T>(p.Shape);
            var (reset, chars) = Evaluator.Evaluate(kernel, p, cfg.ActivationKind, tokens, windows, Environment.ProcessorCount);
            if (!Carry) return new Result(reset, chars, null);
            var (carried, _) = Evaluator.EvaluateCarried(kernel, p, cfg.ActivationKind, tokens, windows);
            return new Result(carried, chars, reset);
        }
    }
}
