using System.Text.Json;
using Xunit;

namespace DistRnn.Tests.Cli;

/// <summary>`train --config FILE`: values from the file, the command line overriding them, bad files refused with exit 2.</summary>
[Collection("Console")]
public sealed class ConfigFileTests : IDisposable
{
    private readonly string _dir = TestUtil.TempDir();

    public ConfigFileTests() => TrainedRun.WriteCorpus(_dir);

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private string Write(string name, string json)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, json);
        return path;
    }

    [Fact]
    public async Task Command_line_overrides_the_file_and_the_checkpoint_keeps_the_effective_config()
    {
        // "corpus" is relative to the file's folder, wherever the command runs from.
        var file = Write("run.json", """
            {
              // comments and trailing commas are fine
              "corpus": "corpus.txt", "hidden": 12, "seq": 8, "batch": 4, "steps": 6,
              "lr": 0.05, "workers": 0, "checkpoint-every": 3, "optimizer": "adagrad",
            }
            """);
        var outDir = Path.Combine(_dir, "out");
        var r = await CliRunner.Run("train", "--config", file, "--hidden", "10", "--out", outDir, "--json");
        Assert.True(r.Code == 0, r.ToString());

        var inspect = await CliRunner.Run("inspect", "--checkpoint", outDir);
        Assert.True(inspect.Code == 0, inspect.ToString());
        using var doc = JsonDocument.Parse(inspect.Out);
        var config = doc.RootElement.GetProperty("config");
        Assert.Equal(10, config.GetProperty("hidden").GetInt32());                    // command line wins
        Assert.Equal(0.05, config.GetProperty("lr").GetDouble());                      // from the file
        Assert.Equal("adagrad", config.GetProperty("optimizer").GetString());
        Assert.Equal(6, config.GetProperty("steps").GetInt64());
        Assert.Equal(Path.Combine(_dir, "corpus.txt"), config.GetProperty("corpus").GetString());
        Assert.Equal(6, doc.RootElement.GetProperty("step").GetInt64());
        Assert.True(File.Exists(Path.Combine(outDir, "ckpt-00000003.bin")));         // checkpoint-every from the file
    }

    [Theory]
    [InlineData("""{"hiden": 12}""", "\"hiden\"")]
    [InlineData("""{"val_frac": 0.2}""", "did you mean \"val-frac\"")]
    [InlineData("""{"hidden": "big"}""", "\"hidden\"")]
    [InlineData("""{"hidden": -3, "workers": 0}""", "\"hidden\"")]
    [InlineData("""{"optimizer": "lbfgs", "workers": 0}""", "\"optimizer\"")]
    [InlineData("""{"hidden": {"d": 3}}""", "\"hidden\"")]
    [InlineData("""{"hidden": 3, "hidden": 4}""", "appears twice")]
    [InlineData("""{"hidden": 3""", "not valid JSON")]
    [InlineData("""[1, 2]""", "JSON object")]
    public async Task A_bad_file_is_exit_2_naming_the_file_and_the_key(string json, string expected)
    {
        var file = Write("bad.json", json);
        var outDir = Path.Combine(_dir, "bad-out");
        var r = await CliRunner.Run("train", "--config", file, "--out", outDir, "--steps", "2");
        Assert.Equal(2, r.Code);
        Assert.Single(r.Err.TrimEnd('\n').Split('\n'));
        Assert.Contains("--config " + file, r.Err);
        Assert.Contains(expected, r.Err);
        Assert.False(Directory.Exists(outDir), "a refused run must leave nothing behind");
    }

    [Fact]
    public async Task A_hocon_file_works_the_same_way()
    {
        var file = Write("run.conf", """
            # HOCON: Akka's configuration syntax
            corpus = corpus.txt
            hidden = 9
            seq = 8, batch = 4, steps = 4
            workers = 0
            val-frac = 0.2
            """);
        var outDir = Path.Combine(_dir, "hocon-out");
        var r = await CliRunner.Run("train", "--config", file, "--steps", "5", "--out", outDir, "--json");
        Assert.True(r.Code == 0, r.ToString());
        var inspect = await CliRunner.Run("inspect", "--checkpoint", outDir);
        using var doc = JsonDocument.Parse(inspect.Out);
        var config = doc.RootElement.GetProperty("config");
        Assert.Equal(9, config.GetProperty("hidden").GetInt32());
        Assert.Equal(0.2, config.GetProperty("val-frac").GetDouble());
        Assert.Equal(5, config.GetProperty("steps").GetInt64());

        var bad = Write("bad.conf", "hidden = 9\nseqq = 3\n");
        var b = await CliRunner.Run("train", "--config", bad);
        Assert.Equal(2, b.Code);
        Assert.Contains("unknown key \"seqq\"", b.Err);
    }

    [Fact]
    public async Task A_missing_file_is_exit_2()
    {
        var r = await CliRunner.Run("train", "--config", Path.Combine(_dir, "nope.json"));
        Assert.Equal(2, r.Code);
        Assert.Contains("file not found", r.Err);
    }

    /// <summary>If the plot cannot be written, training warns once and goes on.</summary>
    [Fact]
    public async Task A_plot_failure_is_one_warning_and_training_goes_on()
    {
        var outDir = Path.Combine(_dir, "plotless");
        Directory.CreateDirectory(Path.Combine(outDir, "loss.png")); // a folder where the file should go: the rename fails
        var r = await CliRunner.Run("train", "--workers", "0", "--corpus", Path.Combine(_dir, "corpus.txt"), "--hidden", "8", "--seq", "8",
            "--batch", "4", "--steps", "6", "--checkpoint-every", "2", "--out", outDir);
        Assert.True(r.Code == 0, r.ToString());
        Assert.Single(r.Err.Split('\n'), l => l.Contains("loss.png not drawn"));
        Assert.True(File.Exists(Path.Combine(outDir, "ckpt-00000006.bin")));
        Assert.NotEmpty(File.ReadAllLines(Path.Combine(outDir, "metrics.jsonl")));
    }
}

/// <summary>The example configuration shipped in deploy/ stays valid as options change.</summary>
public sealed class DeployExampleTests
{
    [Fact]
    public void Deploy_run_example_json_has_only_known_keys_and_parses()
    {
        var dir = AppContext.BaseDirectory;
        while (dir is not null && !File.Exists(Path.Combine(dir, "DistRnn.sln"))) dir = Path.GetDirectoryName(dir);
        Assert.NotNull(dir);
        var file = Path.Combine(dir!, "deploy", "run.example.json");
        var root = DistRnn.Coordinator.Cli.Build();
        var expansion = DistRnn.Configuration.ConfigFile.Expand(root, ["train", "--config", file]);
        Assert.NotNull(expansion);
        var parse = root.Parse(expansion!.Args);
        Assert.Empty(parse.Errors);
        Assert.Equal(256, parse.GetValue<int>("--hidden"));
    }
}
