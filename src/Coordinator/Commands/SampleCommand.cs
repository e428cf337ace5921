using System.CommandLine;
using System.Numerics;
using DistRnn.Coordinator.Checkpoints;
using DistRnn.Coordinator.Inference;
using DistRnn.Model;
using DistRnn.Util;

namespace DistRnn.Coordinator.Commands;

/// <summary>`sample`: generated text on stdout.</summary>
internal static class SampleCommand
{
    private static readonly Option<string?> Prime = Options.Optional<string>("--prime", "Text to start from (default: a newline)");
    private static readonly Option<int> Length = Options.Make("--length", "Characters to generate after the prime", 500);
    private static readonly Option<double> Temperature = Options.Make("--temperature", "Softmax temperature (lower = more conservative)", 1.0);
    private static readonly Option<long> Seed = Options.Make("--seed", "Sampling seed", 1L);
    private static readonly Option<int?> TopK = SamplingOptions.TopK("Each character");
    private static readonly Option<double?> TopP = SamplingOptions.TopP("Each character");

    /// <summary>The text is built in memory before it is printed: bound it well below what a string can hold.</summary>
    private const int MaxLength = 100_000_000;

    public static Command Create()
    {
        var cmd = new Command("sample", "Generate text from a checkpoint") { LoadedModel.CheckpointOption, Prime, Length, Temperature, Seed, TopK, TopP, Options.Verbose };
        cmd.SetAction(parse =>
        {
            int length = parse.GetValue(Length);
            if (length > MaxLength) throw new InputException($"--length {length}: must be at most {MaxLength}");
            var truncation = SamplingOptions.From(parse, TopK, TopP);
            var ck = LoadedModel.Open(parse.GetValue(LoadedModel.CheckpointOption)!);
            var vocab = ck.Vocabulary;
            string prime = parse.GetValue(Prime) ?? (vocab.Contains(new System.Text.Rune('\n')) ? "\n" : vocab.Symbols[0]);
            var text = LoadedModel.With(ck, new Body(prime, length, parse.GetValue(Temperature), parse.GetValue(Seed), truncation));
            Console.Out.Write(ReadableJson.Layout(text));
            Console.Out.WriteLine();
            return Cli.Ok;
        });
        return cmd;
    }

    private sealed record Body(string Prime, int Length, double Temperature, long Seed, Truncation Truncation) : IModelFunc<string>
    {
        public string Invoke<T>(Tensors<T> p, Checkpoint ck) where T : unmanaged, IFloatingPointIeee754<T>
            => Sampler.Sample(p, ck.Header.Config.ActivationKind, ck.Vocabulary, Prime, Length, Temperature, Seed, Truncation);
    }
}
