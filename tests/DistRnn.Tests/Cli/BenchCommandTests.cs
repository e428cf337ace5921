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
