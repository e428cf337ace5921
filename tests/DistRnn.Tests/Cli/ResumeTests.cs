using System.Text.Json;
using DistRnn.Coordinator.Checkpoints;

namespace DistRnn.Tests.Cli;

/// <summary>Issue 12 C: what a crash, a resume from an older checkpoint or a damaged metrics.jsonl leaves in the output folder.</summary>
[Collection("Console")]
public class ResumeTests
{
    private static string[] Train(string outDir, params string[] extra) => TrainCommandTests.Train(outDir, extra);

    private static async Task<CliRunner.Result> Ok(params string[] args)
    {
        var r = await CliRunner.Run(args);
        Assert.True(r.Code == 0, r.ToString());
        return r;
    }

    private static List<JsonElement> Events(string stdout, string kind) =>
        stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement)
            .Where(e => e.GetProperty("event").GetString() == kind).ToList();

    private static string Sha(CliRunner.Result r) => Events(r.Out, "done").Single().GetProperty("params_sha256").GetString()!;

    /// <summary>The steps of metrics.jsonl in file order; every line must be whole JSON.</summary>
    private static long[] MetricSteps(string dir) =>
        File.ReadAllLines(Path.Combine(dir, "metrics.jsonl")).Select(l => JsonDocument.Parse(l).RootElement.GetProperty("step").GetInt64()).ToArray();

    [Fact]
    public async Task A_resume_from_an_older_checkpoint_moves_the_later_ones_aside_and_says_so()
    {
        var straight = await Ok(Train(TestUtil.TempDir(), "--steps", "30", "--checkpoint-every", "10"));
        var dir = TestUtil.TempDir();
        await Ok(Train(dir, "--steps", "40", "--checkpoint-every", "10"));

        var resumed = await Ok("train", "--workers", "0", "--resume", CheckpointStore.PathFor(dir, 20), "--steps", "30", "--checkpoint-every", "10", "--json");
        Assert.Contains("ckpt-00000040.bin", resumed.Err);
        Assert.Equal(Sha(straight), Sha(resumed));
        Assert.Equal([30L, 20, 10], CheckpointStore.List(dir).Select(c => c.Step));
        var aside = Assert.Single(Directory.GetDirectories(dir, "abandoned-*"));
        Assert.True(File.Exists(Path.Combine(aside, "ckpt-00000040.bin")));
        // best.bin never names a step of the abandoned timeline
        Assert.True(Checkpoint.Load(Path.Combine(dir, CheckpointStore.BestName)).Header.Step <= 30);
        Assert.Equal([10L, 20, 30], MetricSteps(dir));

        var inspect = await Ok("inspect", "--checkpoint", dir);
        Assert.Equal(30, JsonDocument.Parse(inspect.Out).RootElement.GetProperty("step").GetInt32());
    }

    [Fact]
    public async Task Best_bin_is_written_before_the_step_checkpoint_so_no_checkpoint_records_a_best_that_no_file_holds()
    {
        var dir = TestUtil.TempDir();
        Directory.CreateDirectory(Path.Combine(dir, CheckpointStore.BestName)); // writing best.bin fails: the crash between the two writes
        var r = await CliRunner.Run(Train(dir, "--steps", "20", "--checkpoint-every", "10"));
        Assert.NotEqual(0, r.Code);
        foreach (var (_, path) in CheckpointStore.List(dir))
            Assert.True(double.IsPositiveInfinity(Checkpoint.Load(path).Header.BestValLoss), $"{path} records a best validation loss that no best.bin holds");
    }

    /// <summary>A run of 30 steps, checkpoints every 10, metrics every 5; then the crash after step 30 lost ckpt-30.</summary>
    private static async Task<string> CrashedRun()
    {
        var dir = TestUtil.TempDir();
        await Ok(Train(dir, "--steps", "30", "--checkpoint-every", "10", "--log-every", "5"));
        File.Delete(CheckpointStore.PathFor(dir, 30));
        Assert.Equal([5L, 10, 15, 20, 25, 30], MetricSteps(dir));
        return dir;
    }

    private static Task<CliRunner.Result> ResumeTo30(string dir) =>
        Ok("train", "--workers", "0", "--resume", dir, "--steps", "30", "--checkpoint-every", "10", "--log-every", "5", "--json");

    [Fact]
    public async Task Steps_after_the_last_checkpoint_are_not_in_metrics_twice()
    {
        var dir = await CrashedRun();
        await ResumeTo30(dir);
        Assert.Equal([5L, 10, 15, 20, 25, 30], MetricSteps(dir));
    }

    [Fact]
    public async Task A_torn_last_metrics_line_does_not_swallow_the_first_line_of_the_resume()
    {
        var dir = await CrashedRun();
        var metrics = Path.Combine(dir, "metrics.jsonl");
        var text = File.ReadAllText(metrics);
        File.WriteAllText(metrics, text[..(text.Length - 12)]); // the crash cut the last line short
        await ResumeTo30(dir);
        Assert.Equal([5L, 10, 15, 20, 25, 30], MetricSteps(dir));
    }

    [Fact]
    public async Task Metrics_lines_with_a_non_numeric_step_do_not_stop_a_resume()
    {
        var dir = await CrashedRun();
        var metrics = Path.Combine(dir, "metrics.jsonl");
        var lines = File.ReadAllLines(metrics).ToList();
        lines.Insert(1, """{"step":"seven","loss":1}""");
        lines.Insert(2, "[1,2,3]");
        File.WriteAllLines(metrics, lines);
        await ResumeTo30(dir);
        Assert.Equal([5L, 10, 15, 20, 25, 30], MetricSteps(dir));
    }

    [Fact]
    public async Task A_resume_needs_nothing_but_resume_and_typed_options_override_the_saved_ones()
    {
        var straight = await Ok(Train(TestUtil.TempDir(), "--steps", "40"));
        var dir = TestUtil.TempDir();
        await Ok(Train(dir, "--steps", "20", "--checkpoint-every", "7", "--eval-every", "3", "--keep-checkpoints", "2"));

        var resumed = await Ok("train", "--resume", dir, "--steps", "30", "--json");
        Assert.All(Events(resumed.Out, "step"), e => Assert.Equal(0, e.GetProperty("workers").GetInt32())); // still --workers 0
        Assert.Equal([21L, 28, 30], Events(resumed.Out, "checkpoint").Select(e => e.GetProperty("step").GetInt64()));
        Assert.Equal([21L, 24, 27, 30], Events(resumed.Out, "step").Where(e => e.TryGetProperty("val_loss", out _)).Select(e => e.GetProperty("step").GetInt64()));
        Assert.Equal([30L, 28], CheckpointStore.List(dir).Select(c => c.Step));

        var overridden = await Ok("train", "--resume", dir, "--steps", "40", "--checkpoint-every", "5", "--json");
        Assert.Equal([35L, 40], Events(overridden.Out, "checkpoint").Select(e => e.GetProperty("step").GetInt64()));
        Assert.Equal(Sha(straight), Sha(overridden));
    }

    [Fact]
    public async Task A_resumed_cluster_run_keeps_its_workers()
    {
        var dir = TestUtil.TempDir();
        await Ok(["train", "--workers", "1", "--min-workers", "1", "--corpus", TrainCommandTests.Corpus, "--hidden", "12", "--seq", "10", "--batch", "4", "--out", dir, "--json", "--steps", "6"]);
        var resumed = await Ok("train", "--resume", dir, "--steps", "10", "--json");
        Assert.All(Events(resumed.Out, "step"), e => Assert.Equal(1, e.GetProperty("workers").GetInt32()));
    }

    /// <summary>The data plane is saved with the run: a resume without --data-plane goes on over the tree, with the same bits.</summary>
    [Fact]
    public async Task A_resumed_tree_run_keeps_its_data_plane_and_its_bits()
    {
        string[] model = ["--corpus", TrainCommandTests.Corpus, "--hidden", "12", "--seq", "10", "--batch", "4", "--json"];
        var straight = await Ok(["train", .. model, "--workers", "0", "--out", TestUtil.TempDir(), "--steps", "10"]);
        var dir = TestUtil.TempDir();
        await Ok(["train", .. model, "--workers", "2", "--data-plane", "tree", "--out", dir, "--steps", "6"]);
        Assert.Equal("tree", Checkpoint.Load(CheckpointStore.List(dir).First().Path).Header.Run!.DataPlane);
        var resumed = await Ok("train", "--resume", dir, "--steps", "10", "--json");
        Assert.Equal("tree", Checkpoint.Load(CheckpointStore.List(dir).First().Path).Header.Run!.DataPlane);
        Assert.Equal(10, CheckpointStore.List(dir).First().Step);
        Assert.Equal(Sha(straight), Sha(resumed));
    }
}
