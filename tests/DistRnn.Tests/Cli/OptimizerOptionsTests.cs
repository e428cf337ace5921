using System.Text.Json;
using DistRnn.Configuration;
using DistRnn.Coordinator.Checkpoints;

namespace DistRnn.Tests.Cli;

/// <summary>train's optimiser options end to end: the same bits for --workers 0 and 2 and across a crash and resume, saved in checkpoints, kept by a resume.</summary>
[Collection("Console")]
public class OptimizerOptionsTests
{
    private static async Task<CliRunner.Result> Ok(params string[] args)
    {
        var r = await CliRunner.Run(args);
        Assert.True(r.Code == 0, r.ToString());
        return r;
    }

    private static List<JsonElement> Events(string stdout, string kind) =>
        stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement)
            .Where(e => e.GetProperty("event").GetString() == kind).ToList();

    /// <summary>The rate of each step as metrics.jsonl recorded it.</summary>
    private static double[] Rates(string dir) =>
        File.ReadAllLines(Path.Combine(dir, "metrics.jsonl")).Select(l => JsonDocument.Parse(l).RootElement.GetProperty("lr").GetDouble()).ToArray();

    private static string Sha(CliRunner.Result r) => Events(r.Out, "done").Single().GetProperty("params_sha256").GetString()!;

    // 2376 training characters at batch 8 × seq 16: an epoch is 18 steps
    private static string[] Train(string outDir, string workers, string[] optimiser) =>
        ["train", "--workers", workers, "--corpus", TrainCommandTests.Corpus, "--hidden", "12", "--seq", "16", "--batch", "8", "--steps", "30",
         "--checkpoint-every", "10", "--log-every", "1", "--out", outDir, "--json", .. optimiser];

    public static TheoryData<string[]> Optimisers() => new()
    {
        new[] { "--optimizer", "rmsprop", "--rmsprop-decay", "0.9", "--lr", "0.01", "--lr-schedule", "step", "--lr-decay", "0.5", "--lr-decay-after", "1", "--lr-decay-every", "0" },
        new[] { "--optimizer", "adam", "--lr", "0.01", "--lr-schedule", "cosine", "--warmup-steps", "5" },
        new[] { "--optimizer", "sgd", "--lr", "0.5", "--lr-schedule", "step", "--lr-decay", "0.8", "--lr-decay-after", "2", "--lr-decay-every", "4" },
    };

    [Theory]
    [MemberData(nameof(Optimisers))]
    public async Task The_bits_are_the_same_for_workers_0_and_2_and_after_a_crash_and_resume(string[] optimiser)
    {
        var singleDir = TestUtil.TempDir();
        var single = await Ok(Train(singleDir, "0", optimiser));
        var dir = TestUtil.TempDir();
        var cluster = await Ok(Train(dir, "2", optimiser));
        Assert.Equal(Sha(single), Sha(cluster));

        // the rate each step reports is the schedule's, and it moves
        var rates = Rates(singleDir);
        Assert.Equal(30, rates.Length);
        Assert.True(rates.Distinct().Count() > 1, string.Join(" ", rates));

        // the crash after step 20: resume from its checkpoint, saved options only, on the single-process loop
        var resumed = await Ok("train", "--resume", CheckpointStore.PathFor(dir, 20), "--workers", "0", "--json");
        Assert.Equal(Sha(single), Sha(resumed));
        Assert.Equal(rates, Rates(dir));
    }

    [Fact]
    public async Task A_resume_refuses_another_schedule_or_optimiser_parameter()
    {
        var dir = TestUtil.TempDir();
        await Ok(Train(dir, "0", ["--optimizer", "rmsprop", "--lr-schedule", "cosine"]));
        var saved = Checkpoint.Load(CheckpointStore.PathFor(dir, 30)).Header.Config;
        Assert.Equal(("rmsprop", 0.95, "cosine"), (saved.Optimizer, saved.RmspropDecay, saved.LrSchedule));
        foreach (var (option, value) in new[] { ("--lr-schedule", "step"), ("--rmsprop-decay", "0.9"), ("--warmup-steps", "3"), ("--lr-decay", "0.5"), ("--lr-decay-after", "2"), ("--lr-decay-every", "7") })
        {
            var r = await CliRunner.Run("train", "--resume", dir, "--steps", "40", option, value);
            Assert.Equal(2, r.Code);
            Assert.Contains($"{option} {value}: differs from the checkpoint's", r.Err);
            Assert.Single(r.Err.Trim().Split('\n'));
        }
    }
}
