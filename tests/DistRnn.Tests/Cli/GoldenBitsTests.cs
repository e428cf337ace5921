using System.Text.Json;

namespace DistRnn.Tests.Cli;

/// <summary>
/// Regression pins of the bits across releases: a fixed run (the embedded corpus, hidden 48, seq 24, batch 16,
/// 30 Adam steps, seed 11) must end with exactly the params_sha256 that release c3e9615 printed for it, in float32 and
/// float64, in the single-process loop and on a local cluster of two workers. A change of any kernel, of the
/// reduction order, of the batch plan, the initialisation or the optimiser shows up here as a different hash.
/// </summary>
[Collection("Console")]
public class GoldenBitsTests
{
    [Theory]
    [InlineData("float32", "0", "35787d0e2bd191b65b02adf8cad0116d92f52545438f3dbfac28e151d4d29059")]
    [InlineData("float32", "2", "35787d0e2bd191b65b02adf8cad0116d92f52545438f3dbfac28e151d4d29059")]
    [InlineData("float64", "0", "a57e65aba740265db7e3ca119de0c0fd57e547c1bf389efd90c889c6ed839f65")]
    [InlineData("float64", "2", "a57e65aba740265db7e3ca119de0c0fd57e547c1bf389efd90c889c6ed839f65")]
    public async Task A_fixed_run_keeps_the_params_sha256_of_release_c3e9615(string precision, string workers, string expected)
    {
        // every option that decides the bits is typed (release c3e9615's defaults for the optimiser), so a change of train's defaults leaves this run as it was
        var r = await CliRunner.Run("train", "--hidden", "48", "--seq", "24", "--batch", "16", "--steps", "30", "--precision", precision,
            "--optimizer", "adam", "--lr", "0.002", "--lr-schedule", "constant", "--clip", "5", "--activation", "tanh", "--val-frac", "0.1",
            "--seed", "11", "--workers", workers, "--checkpoint-every", "30", "--json", "--out", TestUtil.TempDir());
        Assert.True(r.Code == 0, r.ToString());
        var done = JsonDocument.Parse(r.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries)[^1]).RootElement;
        Assert.Equal("done", done.GetProperty("event").GetString());
        Assert.Equal(expected, done.GetProperty("params_sha256").GetString());
    }
}
