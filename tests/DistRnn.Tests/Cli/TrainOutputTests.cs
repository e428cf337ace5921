using System.Buffers.Binary;
using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Xunit;

namespace DistRnn.Tests.Cli;

/// <summary>A short `train --workers 0 --out DIR` and the commands that read its folder: sample, complete, eval, inspect.</summary>
[Collection("Console")]
public sealed class TrainOutputTests(TrainedRun run) : IClassFixture<TrainedRun>
{
    [Fact]
    public void Train_finishes_and_says_so()
    {
        Assert.True(run.Train.Code == 0, run.Train.ToString());
        Assert.Contains($"done: step {TrainedRun.Steps}", run.Train.Out);
        Assert.Contains("--- sample ---", run.Train.Out);
        // stdout is not a terminal here: plain lines, no carriage-return status line.
        Assert.DoesNotContain("\r", run.Train.Out);
        Assert.Matches($@"step\s+{TrainedRun.LogEvery}/{TrainedRun.Steps}  loss \d", run.Train.Out);
    }

    [Fact]
    public void Metrics_jsonl_has_one_json_line_per_logged_step()
    {
        var lines = File.ReadAllLines(Path.Combine(run.Out, "metrics.jsonl"));
        var steps = new List<long>();
        foreach (var line in lines)
        {
            using var doc = JsonDocument.Parse(line);
            var e = doc.RootElement;
            long step = e.GetProperty("step").GetInt64();
            steps.Add(step);
            Assert.True(double.IsFinite(e.GetProperty("loss").GetDouble()));
            Assert.True(e.GetProperty("chars_per_s").GetDouble() > 0);
            Assert.Equal(0, e.GetProperty("workers").GetInt32());
            Assert.Equal(0.01, e.GetProperty("lr").GetDouble());
            Assert.True(DateTimeOffset.TryParse(e.GetProperty("time").GetString(), CultureInfo.InvariantCulture, out _));
            var val = e.GetProperty("val_loss");
            if (step % TrainedRun.EvalEvery == 0) Assert.True(val.GetDouble() > 0);
            else Assert.Equal(JsonValueKind.Null, val.ValueKind);
        }
        Assert.Equal(Enumerable.Range(1, TrainedRun.Steps / TrainedRun.LogEvery).Select(i => (long)i * TrainedRun.LogEvery), steps);
    }

    [Fact]
    public void Loss_png_is_a_real_png_plot()
    {
        var bytes = File.ReadAllBytes(Path.Combine(run.Out, "loss.png"));
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A }, bytes[..8]);
        Assert.Equal("IHDR", System.Text.Encoding.ASCII.GetString(bytes, 12, 4));
        Assert.Equal(DistRnn.Coordinator.Output.LossPlot.Width, BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(16)));
        Assert.Equal(DistRnn.Coordinator.Output.LossPlot.Height, BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(20)));
        Assert.True(bytes.Length > 10_000, $"loss.png is only {bytes.Length} bytes: a blank image?");
        Assert.Empty(Directory.GetFiles(run.Out, "*.tmp")); // written through a temporary file and renamed
    }

    [Fact]
    public void Checkpoints_and_best_are_kept()
    {
        Assert.True(File.Exists(Path.Combine(run.Out, "best.bin")));
        Assert.True(File.Exists(Path.Combine(run.Out, $"ckpt-{TrainedRun.Steps:D8}.bin")));
    }

    [Fact]
    public async Task Sample_prints_the_prime_and_the_requested_length_reproducibly()
    {
        var a = await CliRunner.Run("sample", "--checkpoint", run.Out, "--prime", "the ", "--length", "40", "--seed", "3", "--temperature", "0.8");
        Assert.True(a.Code == 0, a.ToString());
        var text = a.Out.TrimEnd('\n');
        Assert.StartsWith("the ", text);
        Assert.Equal(44, text.EnumerateRunes().Count());
        var b = await CliRunner.Run("sample", "--checkpoint", run.Out, "--prime", "the ", "--length", "40", "--seed", "3", "--temperature", "0.8");
        Assert.Equal(a.Out, b.Out);
    }

    [Fact]
    public async Task Complete_top_3_prints_three_completions_with_probabilities()
    {
        var r = await CliRunner.Run("complete", "--checkpoint", run.Out, "--prefix", "the c", "--top", "3", "--max-length", "30");
        Assert.True(r.Code == 0, r.ToString());
        var rows = r.Out.Split('\n').Select(l => Regex.Match(l, @"^\s*(\d+)\. p = (\S+)  ("".*"")")).Where(m => m.Success).ToList();
        Assert.Equal(3, rows.Count);
        var ps = rows.Select(m => double.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture)).ToList();
        Assert.All(ps, p => Assert.InRange(p, double.Epsilon, 1.0));
        Assert.True(ps[0] >= ps[1] && ps[1] >= ps[2], string.Join(", ", ps));

        var j = await CliRunner.Run("complete", "--checkpoint", run.Out, "--prefix", "the c", "--top", "3", "--max-length", "30", "--json");
        Assert.True(j.Code == 0, j.ToString());
        using var doc = JsonDocument.Parse(j.Out);
        var completions = doc.RootElement.GetProperty("completions").EnumerateArray().ToList();
        Assert.Equal(3, completions.Count);
        for (int i = 0; i < 3; i++)
        {
            // The readable form shows the same texts and probabilities, in the same order.
            Assert.Equal(JsonSerializer.Serialize(completions[i].GetProperty("text").GetString()), rows[i].Groups[3].Value);
            Assert.Equal(ps[i], completions[i].GetProperty("probability").GetDouble(), ps[i] * 1e-6);
            var text = completions[i].GetProperty("text").GetString()!;
            Assert.True(text.EndsWith('\n') || text.Length == 30, text);
        }
    }

    [Fact]
    public async Task Eval_reports_nats_bits_and_perplexity()
    {
        var r = await CliRunner.Run("eval", "--checkpoint", run.Out);
        Assert.True(r.Code == 0, r.ToString());
        Assert.Contains("perplexity", r.Out);

        var j = await CliRunner.Run("eval", "--checkpoint", run.Out, "--corpus", run.Corpus, "--json");
        Assert.True(j.Code == 0, j.ToString());
        using var doc = JsonDocument.Parse(j.Out);
        var e = doc.RootElement;
        double loss = e.GetProperty("loss").GetDouble();
        Assert.InRange(loss, 0.01, 10);
        Assert.Equal(loss / Math.Log(2), e.GetProperty("bits_per_char").GetDouble(), 1e-9);
        Assert.Equal(Math.Exp(loss), e.GetProperty("perplexity").GetDouble(), 1e-9);
        Assert.True(e.GetProperty("chars").GetInt64() > 0);
    }

    /// <summary>inspect shows the effective configuration; that "config" object is itself a valid --config file and reproduces the run bit for bit.</summary>
    [Fact]
    public async Task Inspect_shows_the_config_and_it_reproduces_the_run()
    {
        var r = await CliRunner.Run("inspect", "--checkpoint", run.Out);
        Assert.True(r.Code == 0, r.ToString());
        using var doc = JsonDocument.Parse(r.Out);
        var e = doc.RootElement;
        Assert.Equal(TrainedRun.Steps, e.GetProperty("step").GetInt64());
        Assert.Equal(TrainedRun.Hidden, e.GetProperty("hidden").GetInt32());
        Assert.True(e.GetProperty("vocab_size").GetInt32() > 2);
        string sha = e.GetProperty("params_sha256").GetString()!;
        Assert.Matches("^[0-9a-f]{64}$", sha);
        var config = e.GetProperty("config");
        Assert.Equal(TrainedRun.Hidden, config.GetProperty("hidden").GetInt32());
        Assert.Equal(0.01, config.GetProperty("lr").GetDouble());

        var file = Path.Combine(run.Dir, "from-inspect.json");
        File.WriteAllText(file, config.GetRawText());
        var again = await CliRunner.Run("train", "--config", file, "--workers", "0", "--out", Path.Combine(run.Dir, "again"), "--json");
        Assert.True(again.Code == 0, again.ToString());
        using var done = JsonDocument.Parse(again.Out.Trim().Split('\n')[^1]);
        Assert.Equal("done", done.RootElement.GetProperty("event").GetString());
        Assert.Equal(sha, done.RootElement.GetProperty("params_sha256").GetString());
    }
}
