using System.Text.Json;
using Xunit;

namespace DistRnn.Tests.Cli;

/// <summary>`bench` reports what it measured in the documented shape (never asserts how fast: that lives in docs/benchmarks.md).</summary>
[Collection("Console")]
public class BenchCommandTests
{
    [Theory]
    [InlineData("0", "float32")]
    [InlineData("0", "float64")]
    [InlineData("1", "float32")]
    public async Task Json_is_one_line_with_the_measurements(string workers, string precision)
    {
        var r = await CliRunner.Run("bench", "--hidden", "16", "--seq", "8", "--batch", "4", "--steps", "3", "--warmup", "1",
            "--workers", workers, "--precision", precision, "--json");
        Assert.True(r.Code == 0, r.ToString());
        var lines = r.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        using var doc = JsonDocument.Parse(lines[0]);
        var root = doc.RootElement;
        Assert.True(root.GetProperty("chars_per_s").GetDouble() > 0, r.ToString());
        Assert.True(root.GetProperty("step_ms_median").GetDouble() > 0, r.ToString());
        Assert.True(root.GetProperty("gflops").GetDouble() > 0, r.ToString());
        Assert.Equal(16, root.GetProperty("hidden").GetInt32());
        Assert.Equal(int.Parse(workers), root.GetProperty("workers").GetInt32());
        Assert.Equal(precision, root.GetProperty("precision").GetString());
        Assert.Equal(3, root.GetProperty("steps").GetInt32());
    }

    [Fact]
    public async Task Breakdown_times_every_hand_off_of_a_cluster_step_in_order()
    {
        var r = await CliRunner.Run("bench", "--hidden", "16", "--seq", "8", "--batch", "4", "--steps", "4", "--warmup", "1",
            "--workers", "1", "--breakdown", "--json");
        Assert.True(r.Code == 0, r.ToString());
        using var doc = JsonDocument.Parse(r.Out.Trim());
        var hops = doc.RootElement.GetProperty("breakdown").EnumerateArray().ToList();
        string[] points = ["asked", "coordinator_sent", "worker_received", "compute_started", "compute_done", "result_sent", "coordinator_received", "answered"];
        Assert.Equal(points.Length - 1, hops.Count);
        for (int i = 0; i < hops.Count; i++)
        {
            Assert.Equal(points[i], hops[i].GetProperty("from").GetString());
            Assert.Equal(points[i + 1], hops[i].GetProperty("to").GetString());
            Assert.True(hops[i].GetProperty("median_ms").GetDouble() >= 0, r.ToString());
            Assert.True(hops[i].GetProperty("p90_ms").GetDouble() >= hops[i].GetProperty("median_ms").GetDouble(), r.ToString());
        }
        Assert.True(hops.Sum(h => h.GetProperty("median_ms").GetDouble()) > 0, r.ToString()); // a step takes time somewhere

        var plain = await CliRunner.Run("bench", "--hidden", "16", "--seq", "8", "--batch", "4", "--steps", "2", "--warmup", "1", "--workers", "0", "--json");
        Assert.True(plain.Code == 0, plain.ToString());
        Assert.DoesNotContain("breakdown", plain.Out);
    }

    [Fact]
    public async Task Breakdown_without_workers_is_refused()
    {
        var r = await CliRunner.Run("bench", "--workers", "0", "--breakdown");
        Assert.True(r.Code == 2, r.ToString());
        Assert.Contains("--breakdown", r.Err);
    }

    /// <summary>
    /// The arithmetic per character counted by hand, term by term, for the embedded corpus (k = 65) and a
    /// Chinese one (k = 7824), d = 256: the products 2d² (s W), 2dk (s V), 2dk (dV), 2dk (dz Vᵀ), 2d² (δ Wᵀ), 2d² (dW);
    /// per value d (+ b), d (σ), 3d (δ), d (dU row), d (db); k (+ c), 4k (softmax), k (dc).
    /// </summary>
    [Theory]
    [InlineData(256, 65, 131072 + 33280 + 33280 + 33280 + 131072 + 131072 + 256 + 256 + 768 + 256 + 256 + 65 + 260 + 65)]
    [InlineData(256, 7824, 131072 + 4005888 + 4005888 + 4005888 + 131072 + 131072 + 256 + 256 + 768 + 256 + 256 + 7824 + 31296 + 7824)]
    public void Flops_per_character_are_the_hand_count(int d, int k, double expected)
    {
        Assert.Equal(expected, DistRnn.Coordinator.Commands.BenchCommand.FlopsPerChar(d, k));
    }

    [Theory]
    [InlineData("missing.txt", "file not found")]
    [InlineData("empty.txt", "is empty")]
    [InlineData("latin1.txt", "invalid UTF-8")]
    [InlineData("short.txt", "fewer than --seq")]
    [InlineData(".", "is a folder")]
    public async Task A_bad_corpus_is_one_line_and_exit_2(string name, string why)
    {
        var dir = TestUtil.TempDir();
        try
        {
            File.WriteAllBytes(Path.Combine(dir, "empty.txt"), []);
            File.WriteAllBytes(Path.Combine(dir, "latin1.txt"), [0x63, 0x61, 0x66, 0xE9, 0x0A]);
            File.WriteAllText(Path.Combine(dir, "short.txt"), "abcabc\n");
            var path = Path.Combine(dir, name);
            var r = await CliRunner.Run("bench", "--corpus", path, "--seq", "64", "--steps", "1");
            Assert.True(r.Code == 2, r.ToString());
            Assert.Single(r.Err.TrimEnd('\n').Split('\n'));
            Assert.Contains("--corpus", r.Err);
            Assert.Contains(why, r.Err);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Theory]
    [InlineData("--hidden", "0")]
    [InlineData("--steps", "0")]
    [InlineData("--workers", "-1")]
    [InlineData("--precision", "float16")]
    public async Task Bad_input_is_one_line_and_exit_2(string option, string value)
    {
        var r = await CliRunner.Run("bench", option, value);
        Assert.True(r.Code == 2, r.ToString());
        Assert.Single(r.Err.TrimEnd('\n').Split('\n'));
        Assert.Contains(option, r.Err);
    }
}
