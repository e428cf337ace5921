using System.Text.Json;

namespace DistRnn.Tests.Cli;

[Collection("Console")]
public class TrainCommandTests
{
    /// <summary>The small corpus file the train command tests (and ResumeTests) run on.</summary>
    internal static readonly string Corpus = WriteCorpus();

    private static string WriteCorpus()
    {
        var p = Path.Combine(TestUtil.TempDir(), "corpus.txt");
        File.WriteAllText(p, TestUtil.SmallText(30));
        return p;
    }

    internal static string[] Train(string outDir, params string[] extra) =>
        ["train", "--workers", "0", "--corpus", Corpus, "--hidden", "12", "--seq", "10", "--batch", "4", "--out", outDir, "--json", .. extra];

    private static JsonElement Done(string stdout)
    {
        var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        foreach (var l in lines) JsonDocument.Parse(l).Dispose(); // every line is JSON
        var last = JsonDocument.Parse(lines[^1]).RootElement;
        Assert.Equal("done", last.GetProperty("event").GetString());
        return last;
    }

    [Fact]
    public async Task Json_progress_has_one_step_event_per_step_and_a_done_event_last()
    {
        var r = await CliRunner.Run(Train(TestUtil.TempDir(), "--steps", "12"));
        Assert.Equal(0, r.Code);
        var steps = r.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => JsonDocument.Parse(l).RootElement).Where(e => e.GetProperty("event").GetString() == "step").ToList();
        Assert.Equal(Enumerable.Range(1, 12), steps.Select(s => s.GetProperty("step").GetInt32()));
        foreach (var s in steps)
        {
            Assert.True(s.GetProperty("loss").GetDouble() > 0);
            Assert.True(s.GetProperty("chars_per_s").GetDouble() >= 0);
            Assert.Equal(0, s.GetProperty("workers").GetInt32());
        }
        var done = Done(r.Out);
        Assert.Equal(12, done.GetProperty("step").GetInt32());
        Assert.Matches("^[0-9a-f]{64}$", done.GetProperty("params_sha256").GetString());
        Assert.True(done.GetProperty("train_loss").GetDouble() > 0);
        Assert.True(done.GetProperty("val_loss").GetDouble() > 0);
    }

    [Theory]
    [InlineData("float32")]
    [InlineData("float64")]
    public async Task Resume_from_the_out_folder_matches_a_straight_run(string precision)
    {
        var straight = await CliRunner.Run(Train(TestUtil.TempDir(), "--steps", "40", "--precision", precision, "--checkpoint-every", "7"));
        Assert.Equal(0, straight.Code);

        var dir = TestUtil.TempDir();
        var first = await CliRunner.Run(Train(dir, "--steps", "20", "--precision", precision, "--checkpoint-every", "7"));
        Assert.Equal(0, first.Code);
        var resumed = await CliRunner.Run(["train", "--workers", "0", "--resume", dir, "--steps", "40", "--json", "--checkpoint-every", "7"]);
        Assert.Equal(0, resumed.Code);
        Assert.Equal(Done(straight.Out).GetProperty("params_sha256").GetString(), Done(resumed.Out).GetProperty("params_sha256").GetString());

        var inspect = await CliRunner.Run("inspect", "--checkpoint", dir);
        Assert.Equal(0, inspect.Code);
        var info = JsonDocument.Parse(inspect.Out).RootElement;
        Assert.Equal(40, info.GetProperty("step").GetInt32());
        Assert.Equal(12, info.GetProperty("hidden").GetInt32());
        Assert.Equal(Done(straight.Out).GetProperty("params_sha256").GetString(), info.GetProperty("params_sha256").GetString());
    }

    [Fact]
    public async Task A_resume_refuses_a_conflicting_configuration_and_an_out_folder_is_never_overwritten()
    {
        var dir = TestUtil.TempDir();
        Assert.Equal(0, (await CliRunner.Run(Train(dir, "--steps", "5"))).Code);
        var conflict = await CliRunner.Run(["train", "--workers", "0", "--resume", dir, "--steps", "10", "--hidden", "13"]);
        Assert.Equal(2, conflict.Code);
        Assert.Contains("--hidden", conflict.Err);
        var again = await CliRunner.Run(Train(dir, "--steps", "5"));
        Assert.Equal(2, again.Code);
        Assert.Contains("--resume", again.Err);
    }
}

[Collection("Console")]
public class DivergenceTests
{
    [Fact]
    public async Task A_far_too_large_learning_rate_stops_with_a_clear_message_and_keeps_the_last_good_checkpoint()
    {
        var corpus = Path.Combine(TestUtil.TempDir(), "c.txt");
        File.WriteAllText(corpus, TestUtil.SmallText(10));
        var dir = TestUtil.TempDir();
        var r = await CliRunner.Run("train", "--workers", "0", "--corpus", corpus, "--hidden", "8", "--seq", "8", "--batch", "2",
            "--optimizer", "sgd", "--lr", "3e38", "--clip", "0", "--steps", "400", "--checkpoint-every", "1", "--out", dir);
        Assert.Equal(3, r.Code); // divergence has its own exit code (deploy/systemd's units do not restart on it)
        Assert.Contains("learning rate", r.Err);
        Assert.Contains("skipped", r.Err); // each non-finite step was skipped with a warning before the stop
        Assert.Contains("last good checkpoint", r.Err);
        // The first steps are finite (huge) updates, so checkpoints exist; every one left is loadable and finite.
        var checkpoints = DistRnn.Coordinator.Checkpoints.CheckpointStore.List(dir).ToList();
        Assert.NotEmpty(checkpoints);
        foreach (var (_, path) in checkpoints)
            Assert.All(DistRnn.Coordinator.Checkpoints.Checkpoint.Load(path).Params<float>().Data, v => Assert.True(float.IsFinite(v)));
    }
}
