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
        Assert.Equal(expected, await FixedRunHash(precision, "--activation", "tanh", "--workers", workers));
    }

    /// <summary>
    /// The same pin for the gated cells (issue 16): 2 layers with dropout 0.1, the values release ed24c3a printed. They
    /// hold the fast gated kernel's own reduction order (docs/cells.md), so a speed-up of it must leave them as they are.
    /// </summary>
    [Theory]
    [InlineData("lstm", "float32", "9814eec1aa3cab867b17baac820a8147925430f5466186b7f03ba8eeecf7ccb1")]
    [InlineData("lstm", "float64", "f0f98de0c38c33beafc6cc16cd4ba57a088e716b7605d4339e437e46d8a22920")]
    [InlineData("gru", "float32", "f5c5bc027436cd6e0923c8d3a2f3b1e5cb1d51f156862d5f6cc2e0c25ae35acf")]
    [InlineData("gru", "float64", "d6075b68ea2aa8cf02a113e102126386c9eea2a8d735659e1bed7044742477dc")]
    public async Task A_fixed_gated_run_keeps_the_params_sha256_of_release_ed24c3a(string cell, string precision, string expected)
    {
        Assert.Equal(expected, await FixedRunHash(precision, "--workers", "0", "--cell", cell, "--layers", "2", "--dropout", "0.1"));
    }

    /// <summary>
    /// The fixed run's params_sha256. Every option that decides the bits is typed (release c3e9615's defaults for the
    /// optimiser), so a change of train's defaults leaves the run as it was.
    /// </summary>
    private static async Task<string?> FixedRunHash(string precision, params string[] more)
    {
        var r = await CliRunner.Run(["train", "--hidden", "48", "--seq", "24", "--batch", "16", "--steps", "30", "--precision", precision,
            "--optimizer", "adam", "--lr", "0.002", "--lr-schedule", "constant", "--clip", "5", "--val-frac", "0.1",
            "--seed", "11", "--checkpoint-every", "30", "--json", "--out", TestUtil.TempDir(), .. more]);
        Assert.True(r.Code == 0, r.ToString());
        var done = JsonDocument.Parse(r.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries)[^1]).RootElement;
        Assert.Equal("done", done.GetProperty("event").GetString());
        return done.GetProperty("params_sha256").GetString();
    }
}
