using System.Text.Json;
using System.Text.RegularExpressions;
using DistRnn.Configuration;
using DistRnn.Coordinator.Checkpoints;

namespace DistRnn.Tests.Cli;

/// <summary>
/// The defaults of `train` are what docs/optimizers.md's table says: every value that decides the bits
/// (TrainConfig) and the local cluster's size, as the configuration holds them and as --help shows them.
/// Training with them is not run here (about a minute and a half on two cores); the table's measurements say what it reaches.
/// </summary>
[Collection("Console")]
public class DefaultsTests
{
    private static Dictionary<string, string> DocumentedDefaults()
    {
        var doc = File.ReadAllText(Path.Combine(MultiProcess.Executables.RepoRoot, "docs", "optimizers.md"));
        int from = doc.IndexOf("\n## Defaults", StringComparison.Ordinal);
        Assert.True(from >= 0, "docs/optimizers.md has no \"## Defaults\" section");
        int to = doc.IndexOf("\n## ", from + 1, StringComparison.Ordinal);
        var section = to < 0 ? doc[from..] : doc[from..to];
        var rows = Regex.Matches(section, @"^\| `(--[a-z-]+)` \| `([^`]*)` \|", RegexOptions.Multiline);
        return rows.ToDictionary(m => m.Groups[1].Value, m => m.Groups[2].Value);
    }

    [Fact]
    public async Task Train_uses_the_defaults_docs_optimizers_md_lists()
    {
        var documented = DocumentedDefaults();
        var config = JsonSerializer.SerializeToElement(new TrainConfig(), TrainConfig.Json);
        var expectedOptions = config.EnumerateObject().Select(p => p.Name).Where(n => n != "corpus").Select(n => "--" + n).Append("--workers").ToHashSet();
        Assert.Equal(expectedOptions.Order(), documented.Keys.Order());

        foreach (var (option, value) in documented)
        {
            string actual = option == "--workers" ? new RunSettings().Workers.ToString(System.Globalization.CultureInfo.InvariantCulture)
                : config.GetProperty(option[2..]).ToString();
            Assert.True(actual == value, $"{option}: docs/optimizers.md says {value}, TrainConfig has {actual}");
        }

        var help = (await CliRunner.Run("train", "--help")).Out;
        foreach (var (option, value) in documented)
        {
            int at = help.IndexOf($"  {option} ", StringComparison.Ordinal);
            Assert.True(at >= 0, $"{option} is not in train --help");
            int next = help.IndexOf("\n  --", at + 1, StringComparison.Ordinal);
            Assert.Contains($"[default: {value}]", next < 0 ? help[at..] : help[at..next]);
        }
    }
}
