using System.CommandLine;
using DistRnn.Coordinator.Inference;

namespace DistRnn.Coordinator.Commands;

/// <summary>--top-k and --top-p (<see cref="Truncation"/>), for `sample` and for the sample `train` prints at the end.</summary>
internal static class SamplingOptions
{
    public static Option<int?> TopK(string what) =>
        Options.Optional<int?>("--top-k", $"{what}: draw only among the K most probable characters (K ≥ 1; default: all)");

    public static Option<double?> TopP(string what) =>
        Options.Optional<double?>("--top-p", $"{what}: draw only among the fewest most probable characters holding P of the probability (nucleus, 0 < P ≤ 1; default 1: all)");

    /// <summary>The typed values, checked (one line naming the option, exit 2).</summary>
    public static Truncation From(ParseResult parse, Option<int?> topK, Option<double?> topP) =>
        new Truncation(parse.GetValue(topK), parse.GetValue(topP)).Validated();
}
