using System.CommandLine;
using System.Text.Json;
using DistRnn.Configuration;
using DistRnn.Util;

namespace DistRnn.Coordinator.Commands;

/// <summary>`inspect`: a checkpoint's metadata as JSON (step, hidden, vocab_size, params_sha256, configuration…).</summary>
internal static class InspectCommand
{
    public static Command Create()
    {
        var cmd = new Command("inspect", "Show a checkpoint's step, sizes, hash and configuration as JSON") { LoadedModel.CheckpointOption, Options.Verbose };
        cmd.SetAction(parse =>
        {
            var ck = LoadedModel.Open(parse.GetValue(LoadedModel.CheckpointOption)!);
            var h = ck.Header;
            var o = new Dictionary<string, object?>
            {
                ["path"] = ck.Path,
                ["step"] = h.Step,
                ["hidden"] = h.Config.Hidden,
                ["vocab_size"] = h.Vocab.Length,
                ["params_sha256"] = h.ParamsSha256,
                ["precision"] = h.Config.Precision,
                ["activation"] = h.Config.Activation,
                ["parameters"] = ck.Shape.Count,
                ["corpus"] = h.CorpusName,
                ["corpus_sha256"] = h.CorpusSha256,
                ["train_loss"] = h.TrainLoss,
                ["val_loss"] = h.ValLoss,
                ["best_val_loss"] = double.IsFinite(h.BestValLoss) ? h.BestValLoss : null,
                ["skipped_steps"] = h.SkippedSteps,
                ["created"] = h.Created,
                ["vocab"] = h.Vocab,
                ["config"] = JsonSerializer.SerializeToElement(h.Config, TrainConfig.Json),
            };
            Console.WriteLine(JsonSerializer.Serialize(o, ReadableJson.Indented));
            return Cli.Ok;
        });
        return cmd;
    }
}
