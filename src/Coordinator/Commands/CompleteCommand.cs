using System.CommandLine;
using System.Globalization;
using System.Numerics;
using System.Text.Json;
using DistRnn.Coordinator.Checkpoints;
using DistRnn.Coordinator.Inference;
using DistRnn.Data;
using DistRnn.Model;
using DistRnn.Util;

namespace DistRnn.Coordinator.Commands;

/// <summary>`complete`: the K most probable completions of a prefix (beam search), each with its probability.</summary>
internal static class CompleteCommand
{
    private static readonly Option<string> Prefix = Options.Required("--prefix", "Text to complete (every character must be in the model's vocabulary)");
    private static readonly Option<int> Top = Options.Make("--top", "How many completions to show (K)", 5);
    private static readonly Option<int> MaxLength = Options.Make("--max-length", "A completion ends at a newline or after this many characters", 80);
    private static readonly Option<int> BeamWidth = Options.Make("--beam-width", "Unfinished hypotheses kept per length (0 = max(16, 4 × top))", 0);
    private static readonly Option<bool> Json = new("--json") { Description = "One JSON line: prefix and completions (text, probability, log_probability, ends_at_newline)" };

    private const int MaxTop = 10_000, MaxCompletionLength = 100_000;

    public static Command Create()
    {
        var cmd = new Command("complete", "The most probable completions of a prefix (beam search), each with its probability")
        {
            LoadedModel.CheckpointOption, Prefix, Top, MaxLength, BeamWidth, Json, Options.Verbose,
        };
        cmd.SetAction(parse =>
        {
            string prefix = parse.GetValue(Prefix)!;
            int top = parse.GetValue(Top), maxLength = parse.GetValue(MaxLength), width = parse.GetValue(BeamWidth);
            // The beam holds width × vocabulary candidates per length, for up to max-length lengths.
            if (top > MaxTop) throw new InputException($"--top {top}: must be at most {MaxTop}");
            if (width > MaxTop * 4) throw new InputException($"--beam-width {width}: must be at most {MaxTop * 4}");
            if (maxLength > MaxCompletionLength) throw new InputException($"--max-length {maxLength}: must be at most {MaxCompletionLength}");
            var ck = LoadedModel.Open(parse.GetValue(LoadedModel.CheckpointOption)!);
            var completions = LoadedModel.With(ck, new Body(prefix, top, maxLength, width));
            if (parse.GetValue(Json))
            {
                Console.WriteLine(JsonSerializer.Serialize(new
                {
                    prefix,
                    completions = completions.Select(c => new { text = c.Text, probability = c.Probability, log_probability = c.LogProbability, ends_at_newline = c.EndsAtNewline }),
                }, ReadableJson.Options));
                return Cli.Ok;
            }
            Console.WriteLine($"{completions.Count} most probable completions of {Vocabulary.Escape(prefix)} (step {ck.Header.Step}, max length {maxLength}):");
            int rank = 1;
            foreach (var c in completions)
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{rank++,3}. p = {c.Probability:0.000000e+00}  {Vocabulary.Escape(c.Text)}{(c.EndsAtNewline ? "" : "  (max length)")}"));
            return Cli.Ok;
        });
        return cmd;
    }

    private sealed record Body(string Prefix, int Top, int MaxLength, int Width) : IModelFunc<IReadOnlyList<Completion>>
    {
        public IReadOnlyList<Completion> Invoke<T>(Tensors<T> p, Checkpoint ck) where T : unmanaged, IFloatingPointIeee754<T>
            => BeamSearch.Complete(p, ck.Header.Config.ActivationKind, ck.Vocabulary, Prefix, Top, MaxLength, Width);
    }
}
