using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using DistRnn.Coordinator.Explain;
using DistRnn.Model;
using DistRnn.Tests.Cli;
using Xunit;

namespace DistRnn.Tests.Explain;

[Collection("Console")]
public class ExplainCommandTests
{
    private static readonly string[] ToyVocab = ["\n", "d", "e", "p"];

    private static string ModelJson(Tensors<double> p, string[] vocab, string activation, string dir)
    {
        int k = p.Shape.K, d = p.Shape.D;
        double[][] Rows(Span<double> m, int rows, int cols) { var a = m.ToArray(); return Enumerable.Range(0, rows).Select(r => a[(r * cols)..((r + 1) * cols)]).ToArray(); }
        var json = JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["vocab"] = vocab, ["hidden"] = d, ["activation"] = activation,
            ["U"] = Rows(p.U, k, d), ["W"] = Rows(p.W, d, d), ["V"] = Rows(p.V, d, k), ["b"] = p.B.ToArray(), ["c"] = p.C.ToArray(),
        });
        var path = Path.Combine(dir, $"model-{activation}.json");
        File.WriteAllText(path, json);
        return path;
    }

    private static void AssertPng(string path)
    {
        Assert.True(File.Exists(path), $"{path} is missing");
        var bytes = File.ReadAllBytes(path);
        Assert.True(bytes.Length > 1000, $"{path} is only {bytes.Length} bytes");
        Assert.Equal(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A }, bytes[..8]);
    }

    [Theory]
    [InlineData("tanh", "W")]
    [InlineData("sigmoid", "U")]
    [InlineData("tanh", "b")]
    public async Task Json_line_has_the_issues_fields_and_the_pictures_are_pngs(string activation, string param)
    {
        var dir = TestUtil.TempDir();
        var p = TestUtil.RandomParams<double>(new ModelShape(4, 5), 3);
        var model = ModelJson(p, ToyVocab, activation, dir);
        var outDir = Path.Combine(dir, "out");
        const string text = "deep\ndeep\npeed\n";
        var r = await CliRunner.Run("explain", "--model", model, "--text", text, "--param", param, "--out", outDir, "--json");
        Assert.True(r.Code == 0, r.ToString());
        Assert.Single(r.Out.TrimEnd('\n').Split('\n'));
        using var doc = JsonDocument.Parse(r.Out);
        var root = doc.RootElement;
        int T = text.Length - 1;
        Assert.Equal(param, root.GetProperty("param").GetString());
        Assert.Equal(T, root.GetProperty("T").GetInt32());
        Assert.Equal(text.Select(ch => ch.ToString()), root.GetProperty("tokens").EnumerateArray().Select(e => e.GetString()));
        foreach (var name in new[] { "contribution_norms", "jacobian_spectral", "jacobian_frobenius" })
        {
            var rows = root.GetProperty(name);
            Assert.Equal(T, rows.GetArrayLength());
            for (int t = 1; t <= T; t++) Assert.Equal(t, rows[t - 1].GetArrayLength());
        }
        Assert.Equal(T, root.GetProperty("explicit_norms").GetArrayLength());
        Assert.Equal(T, root.GetProperty("implicit_norms").GetArrayLength());

        // The same numbers as the computation itself.
        var tokens = new DistRnn.Data.Vocabulary(ToyVocab).Encode(text, "t");
        ActivationExtensions.TryParse(activation, out var act);
        ExplainParamExtensions.TryParse(param, out var theta);
        var report = PathContributions.Compute(p, act, tokens, theta);
        Assert.Equal(report.ImplicitShare, root.GetProperty("implicit_share").GetDouble(), 1e-15);
        for (int t = 1; t <= T; t++)
        {
            Assert.Equal(report.ExplicitNorms[t - 1], root.GetProperty("explicit_norms")[t - 1].GetDouble(), 1e-15);
            Assert.Equal(report.ImplicitNorms[t - 1], root.GetProperty("implicit_norms")[t - 1].GetDouble(), 1e-15);
            Assert.Equal(1.0, root.GetProperty("jacobian_spectral")[t - 1][t - 1].GetDouble());
            Assert.Equal(Math.Sqrt(5), root.GetProperty("jacobian_frobenius")[t - 1][t - 1].GetDouble(), 1e-15);
            for (int k = 1; k <= t; k++)
                Assert.Equal(report.ContributionNorms[t - 1][k - 1], root.GetProperty("contribution_norms")[t - 1][k - 1].GetDouble(), 1e-15);
        }
        AssertPng(Path.Combine(outDir, "paths.png"));
        AssertPng(Path.Combine(outDir, "decay.png"));
        Assert.Empty(Directory.GetFiles(outDir, "*.tmp"));
    }

    /// <summary>docs/cli.md's worked example: the trained toy model and "deep\n"; the printed terms are those of the hand-derived expansion (ExplainMathTests).</summary>
    [Fact]
    public async Task The_summary_prints_the_four_terms_of_dL4_dW_on_the_toy_example()
    {
        var dir = TestUtil.TempDir();
        var (p, _) = await ExplainOracle.TrainToy("tanh");
        var model = ModelJson(p, ToyVocab, "tanh", dir);
        var r = await CliRunner.Run("explain", "--model", model, "--text", "deep\n", "--out", Path.Combine(dir, "out"));
        Assert.True(r.Code == 0, r.ToString());
        var tokens = new DistRnn.Data.Vocabulary(ToyVocab).Encode("deep\n", "t");
        var terms = PathContributions.Terms(p, Activation.Tanh, tokens, ExplainParam.W, 4);
        var lines = r.Out.Split('\n').Where(l => l.TrimStart().StartsWith("k = ", StringComparison.Ordinal)).ToArray();
        Assert.Equal(4, lines.Length);
        for (int k = 1; k <= 4; k++)
        {
            var m = Regex.Match(lines[k - 1], @"k = (\d+) .*\|\|C\|\| = (\S+)");
            Assert.True(m.Success, lines[k - 1]);
            Assert.Equal(k, int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture));
            double printed = double.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture);
            double expected = Math.Sqrt(terms[k - 1].Sum(x => x * x));
            Assert.Equal(expected, printed, Math.Max(expected, 1e-300) * 1e-6);
        }
        Assert.Contains(k4Explicit, lines[3]);
        Assert.Contains("s_0^T", lines[0]);
        Assert.Contains("explicit share", r.Out);
        Assert.Contains("largest ||ds_t/ds_k||_2", r.Out);
        AssertPng(Path.Combine(dir, "out", "paths.png"));
    }

    private const string k4Explicit = "(explicit)";

    [Fact]
    public async Task A_float32_checkpoint_is_explained_in_float64()
    {
        var dir = TestUtil.TempDir();
        var corpus = TrainedRun.WriteCorpus(dir);
        var train = await CliRunner.Run("train", "--workers", "0", "--corpus", corpus, "--hidden", "6", "--seq", "8", "--batch", "2",
            "--steps", "3", "--precision", "float32", "--activation", "sigmoid", "--out", Path.Combine(dir, "run"), "--json");
        Assert.True(train.Code == 0, train.ToString());
        var r = await CliRunner.Run("explain", "--checkpoint", Path.Combine(dir, "run"), "--text", "the cat sat", "--out", Path.Combine(dir, "out"), "--json");
        Assert.True(r.Code == 0, r.ToString());
        using var doc = JsonDocument.Parse(r.Out);
        Assert.Equal(10, doc.RootElement.GetProperty("T").GetInt32());
        Assert.Equal("sigmoid", doc.RootElement.GetProperty("activation").GetString());
        AssertPng(Path.Combine(dir, "out", "decay.png"));
    }

    /// <summary>Two characters: one step, no path longer than 0, and for W a single term that is exactly 0 (s_0 = 0).</summary>
    [Fact]
    public async Task A_two_character_text_is_one_step_with_only_the_explicit_term()
    {
        var dir = TestUtil.TempDir();
        var model = ModelJson(TestUtil.RandomParams<double>(new ModelShape(4, 3), 2), ToyVocab, "tanh", dir);
        var r = await CliRunner.Run("explain", "--model", model, "--text", "de", "--out", Path.Combine(dir, "out"), "--json");
        Assert.True(r.Code == 0, r.ToString());
        using var doc = JsonDocument.Parse(r.Out);
        Assert.Equal(1, doc.RootElement.GetProperty("T").GetInt32());
        Assert.Equal(0.0, doc.RootElement.GetProperty("contribution_norms")[0][0].GetDouble());
        Assert.Equal(0.0, doc.RootElement.GetProperty("implicit_share").GetDouble());
        AssertPng(Path.Combine(dir, "out", "paths.png"));
        AssertPng(Path.Combine(dir, "out", "decay.png"));
    }

    [Fact]
    public async Task A_long_text_is_binned_in_the_heatmap()
    {
        var dir = TestUtil.TempDir();
        var p = TestUtil.RandomParams<double>(new ModelShape(4, 3), 9);
        var model = ModelJson(p, ToyVocab, "tanh", dir);
        var text = string.Concat(Enumerable.Repeat("deep\n", 50)); // T = 249
        var r = await CliRunner.Run("explain", "--model", model, "--text", text, "--out", Path.Combine(dir, "out"));
        Assert.True(r.Code == 0, r.ToString());
        var tokens = new DistRnn.Data.Vocabulary(ToyVocab).Encode(text, "t");
        var (cells, bin) = ExplainPlots.HeatmapCells(PathContributions.Compute(p, Activation.Tanh, tokens, ExplainParam.W));
        Assert.Equal(3, bin);
        Assert.Equal(83, cells.GetLength(0));
        Assert.True(double.IsNaN(cells[0, 82]), "above the diagonal is empty");
        Assert.False(double.IsNaN(cells[82, 0]));
        AssertPng(Path.Combine(dir, "out", "paths.png"));
    }

    public static TheoryData<string, string[]> BadInputs()
    {
        var dir = TestUtil.TempDir();
        var p = TestUtil.RandomParams<double>(new ModelShape(4, 3), 1);
        var model = ModelJson(p, ToyVocab, "tanh", dir);
        var big = ModelJson(TestUtil.RandomParams<double>(new ModelShape(4, 400), 1, 0.01), ToyVocab, "sigmoid", dir);
        var textFile = Path.Combine(dir, "deep.txt"); File.WriteAllText(textFile, "deep\n");
        return new TheoryData<string, string[]>
        {
            { "at least 2 characters", ["explain", "--model", model, "--text", ""] },
            { "at least 2 characters", ["explain", "--model", model, "--text", "d"] },
            { "\"x\" at position 2", ["explain", "--model", model, "--text", "dex"] },
            { "at most 1000", ["explain", "--model", model, "--text", string.Concat(Enumerable.Repeat("deep\n", 201))] },
            { "hidden 400", ["explain", "--model", big, "--text", string.Concat(Enumerable.Repeat("deep\n", 15))] },
            { "--param V", ["explain", "--model", model, "--text", "deep", "--param", "V"] },
            { "exactly one of --checkpoint", ["explain", "--text", "deep"] },
            { "exactly one of --checkpoint", ["explain", "--model", model, "--checkpoint", dir, "--text", "deep"] },
            { "exactly one of --text", ["explain", "--model", model] },
            { "exactly one of --text", ["explain", "--model", model, "--text", "deep", "--text-file", textFile] },
            { "file not found", ["explain", "--model", model, "--text-file", Path.Combine(dir, "missing.txt")] },
            { "file not found", ["explain", "--model", Path.Combine(dir, "missing.json"), "--text", "deep"] },
        };
    }

    [Theory]
    [MemberData(nameof(BadInputs))]
    public async Task Bad_input_is_exit_2_with_one_line_and_no_output_folder(string expected, string[] args)
    {
        var outDir = Path.Combine(TestUtil.TempDir(), "out");
        var r = await CliRunner.Run([.. args, "--out", outDir]);
        Assert.True(r.Code == 2, r.ToString());
        Assert.Single(r.Err.TrimEnd('\n').Split('\n'));
        Assert.Contains(expected, r.Err);
        Assert.DoesNotContain("   at ", r.Err);
        Assert.False(Directory.Exists(outDir), "bad input created the output folder");
    }

    [Fact]
    public async Task Help_lists_the_options()
    {
        var r = await CliRunner.Run("explain", "--help");
        Assert.Equal(0, r.Code);
        foreach (var o in new[] { "--checkpoint", "--model", "--text", "--text-file", "--param", "--out", "--json" }) Assert.Contains(o, r.Out);
        Assert.Contains("--text <TEXT>", r.Out);
    }
}
