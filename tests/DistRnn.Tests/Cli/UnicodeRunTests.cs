using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using DistRnn.Data;
using DistRnn.Tests.MultiProcess;
using Xunit;

namespace DistRnn.Tests.Cli;

/// <summary>A short run on Chinese, Russian and emoji, shared by the tests that read its checkpoint.</summary>
public sealed class UnicodeRun : IAsyncLifetime
{
    public string Dir { get; } = TestUtil.TempDir();
    public string Out => Path.Combine(Dir, "out");
    public string Corpus => Path.Combine(Dir, "唐詩-poems.txt"); // a path in any script reads as itself too
    public Vocabulary Vocabulary { get; private set; } = null!;
    internal CliRunner.Result Train { get; private set; } = null!;

    private static readonly string[] Lines =
    [
        "春眠不覺曉", "處處聞啼鳥", "夜來風雨聲", "花落知多少",
        "床前明月光", "疑是地上霜", "Мороз и солнце", "🌸🌙 花月 🌙🌸",
    ];

    public async Task InitializeAsync()
    {
        var text = string.Join("\n", Enumerable.Range(0, 40).Select(i => Lines[i % Lines.Length])) + "\n";
        File.WriteAllText(Corpus, text, new UTF8Encoding(false));
        Vocabulary = Vocabulary.FromText(text);
        Train = await CliRunner.Run("train", "--workers", "0", "--corpus", Corpus, "--hidden", "24", "--seq", "16", "--batch", "8",
            "--steps", "40", "--lr", "0.01", "--checkpoint-every", "40", "--val-frac", "0.1", "--top-k", "5", "--out", Out);
    }

    public Task DisposeAsync()
    {
        try { Directory.Delete(Dir, recursive: true); } catch (IOException) { }
        return Task.CompletedTask;
    }
}

/// <summary>Text in any script reads as itself in every human-facing output, and a character beyond the BMP stays one character throughout.</summary>
[Collection("Console")]
public sealed class UnicodeRunTests(UnicodeRun run) : IClassFixture<UnicodeRun>
{
    /// <summary>Every character of <paramref name="text"/> is a whole character of the vocabulary (no half of a surrogate pair, no U+FFFD).</summary>
    private void AssertWholeCharacters(string text)
    {
        foreach (var r in text.EnumerateRunes())
            Assert.True(run.Vocabulary.Contains(r), $"U+{r.Value:X4} is not a character of the corpus: {ReadableJsonQuote(text)}");
    }

    private static string ReadableJsonQuote(string s) => DistRnn.Util.ReadableJson.Quote(s);

    [Fact]
    public void The_vocabulary_holds_each_astral_character_as_one_symbol()
    {
        Assert.True(run.Train.Code == 0, run.Train.ToString());
        Assert.Contains("🌸", run.Vocabulary.Symbols);
        Assert.All(run.Vocabulary.Symbols, s => Assert.Single(s.EnumerateRunes()));
        // Code-point order: the emoji (U+1F338, U+1F319) after every BMP character, the Chinese after the Cyrillic.
        Assert.Equal(["🌙", "🌸"], run.Vocabulary.Symbols.TakeLast(2));
        // The final sample (with --top-k 5) is readable text of whole characters.
        var sample = run.Train.Out[(run.Train.Out.IndexOf("--- sample ---\n", StringComparison.Ordinal) + 15)..].TrimEnd('\n');
        AssertWholeCharacters(sample);
    }

    [Fact]
    public async Task Sample_from_an_astral_prime_keeps_every_character_whole()
    {
        var r = await CliRunner.Run("sample", "--checkpoint", run.Out, "--prime", "🌸花", "--length", "200", "--seed", "4");
        Assert.True(r.Code == 0, r.ToString());
        Assert.EndsWith("\n", r.Out);
        var text = r.Out[..^1]; // the line end sample adds after the text
        Assert.StartsWith("🌸花", text);
        Assert.Equal(202, text.EnumerateRunes().Count()); // --length counts characters, not UTF-16 units
        AssertWholeCharacters(text);
        Assert.DoesNotContain("\\u", r.Out);

        var k = await CliRunner.Run("sample", "--checkpoint", run.Out, "--prime", "🌸花", "--length", "200", "--seed", "4", "--top-k", "3", "--top-p", "0.9");
        Assert.True(k.Code == 0, k.ToString());
        AssertWholeCharacters(k.Out.TrimEnd('\n'));
    }

    [Fact]
    public async Task Complete_prints_readable_chinese_and_json_keeps_it_unescaped()
    {
        var r = await CliRunner.Run("complete", "--checkpoint", run.Out, "--prefix", "春眠", "--top", "3", "--max-length", "8");
        Assert.True(r.Code == 0, r.ToString());
        Assert.Contains("completions of \"春眠\"", r.Out);
        var rows = r.Out.Split('\n').Select(l => Regex.Match(l, @"^\s*\d+\. p = \S+  ("".*"")")).Where(m => m.Success).ToList();
        Assert.Equal(3, rows.Count);
        Assert.DoesNotContain("\\u", r.Out);

        var j = await CliRunner.Run("complete", "--checkpoint", run.Out, "--prefix", "春眠", "--top", "3", "--max-length", "8", "--json");
        Assert.True(j.Code == 0, j.ToString());
        Assert.Contains("\"prefix\":\"春眠\"", j.Out);   // UTF-8 as it is, not \u6625\u7720
        Assert.DoesNotContain("\\u", j.Out);
        using var doc = JsonDocument.Parse(j.Out);
        var texts = doc.RootElement.GetProperty("completions").EnumerateArray().Select(c => c.GetProperty("text").GetString()!).ToList();
        for (int i = 0; i < 3; i++)
        {
            AssertWholeCharacters(texts[i]);
            Assert.Equal(ReadableJsonQuote(texts[i]), rows[i].Groups[1].Value); // the readable line shows the same text
        }
        Assert.Contains(texts, t => t.EnumerateRunes().Any(c => c.Value is >= 0x4E00 and <= 0x9FFF)); // Chinese, as Chinese

        var astral = await CliRunner.Run("complete", "--checkpoint", run.Out, "--prefix", "🌸🌙", "--top", "2", "--max-length", "6", "--json");
        Assert.True(astral.Code == 0, astral.ToString());
        using var adoc = JsonDocument.Parse(astral.Out);
        foreach (var c in adoc.RootElement.GetProperty("completions").EnumerateArray()) AssertWholeCharacters(c.GetProperty("text").GetString()!);
    }

    [Fact]
    public async Task Inspect_shows_the_vocabulary_as_its_characters()
    {
        var r = await CliRunner.Run("inspect", "--checkpoint", run.Out);
        Assert.True(r.Code == 0, r.ToString());
        Assert.Contains("\"🌸\"", r.Out);
        Assert.Contains("\"春\"", r.Out);
        Assert.Equal(2, Regex.Matches(r.Out, "唐詩-poems.txt").Count);   // the corpus path, in "corpus" and in "config"
        Assert.DoesNotContain("\\u", r.Out);      // not \ud83c\udf38, not \u5510
        using var doc = JsonDocument.Parse(r.Out);
        Assert.Equal(run.Vocabulary.Symbols, doc.RootElement.GetProperty("vocab").EnumerateArray().Select(e => e.GetString()!));
    }

    [Fact]
    public async Task Errors_name_a_character_as_it_is()
    {
        var r = await CliRunner.Run("sample", "--checkpoint", run.Out, "--prime", "春𝄞");
        Assert.Equal(2, r.Code);
        Assert.Equal("error: --prime: character \"𝄞\" at position 1 is not in the model's vocabulary", r.Err.TrimEnd('\n'));
    }

    /// <summary>Under a Latin-1 locale .NET would print every other character as '?': the programs set UTF-8 themselves.</summary>
    [Fact]
    public void Output_is_utf8_whatever_the_locale()
    {
        var env = new Dictionary<string, string> { ["LANG"] = "en_US.ISO-8859-1", ["LC_ALL"] = "en_US.ISO-8859-1" };
        using var ok = NodeProcess.Start("complete", Executables.Coordinator, ["complete", "--checkpoint", run.Out, "--prefix", "春眠", "--top", "1", "--max-length", "4"], env);
        Assert.True(ok.WaitForExit(TimeSpan.FromSeconds(60)) == 0, ok.Output);
        Assert.Contains(ok.StdoutLines, l => l.Contains("completions of \"春眠\"", StringComparison.Ordinal));
        using var bad = NodeProcess.Start("sample", Executables.Coordinator, ["sample", "--checkpoint", run.Out, "--prime", "🌸𝄞"], env);
        Assert.True(bad.WaitForExit(TimeSpan.FromSeconds(60)) == 2, bad.Output);
        Assert.Contains(bad.Lines, l => l.Error && l.Text.Contains("\"𝄞\" at position 1", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("sample", "--top-k", "0")]
    [InlineData("sample", "--top-k", "2.5")]
    [InlineData("sample", "--top-p", "0")]
    [InlineData("sample", "--top-p", "1.01")]
    [InlineData("train", "--top-k", "-1")]
    [InlineData("train", "--top-p", "2")]
    public async Task Bad_top_k_or_top_p_is_one_line_and_exit_2(string command, string option, string value)
    {
        string[] args = command == "sample"
            ? ["sample", "--checkpoint", run.Out, option, value]
            : ["train", "--workers", "0", "--corpus", run.Corpus, "--steps", "1", "--out", Path.Combine(run.Dir, "never"), option, value];
        var r = await CliRunner.Run(args);
        Assert.True(r.Code == 2, r.ToString());
        Assert.Single(r.Err.TrimEnd('\n').Split('\n'));
        Assert.Contains(option, r.Err);
        Assert.False(Directory.Exists(Path.Combine(run.Dir, "never")), "train refused its options only after it had begun the run");
    }

    [Fact]
    public async Task Bench_measures_a_corpus_of_its_own()
    {
        var r = await CliRunner.Run("bench", "--corpus", run.Corpus, "--hidden", "16", "--seq", "8", "--batch", "4", "--steps", "3", "--warmup", "1", "--json");
        Assert.True(r.Code == 0, r.ToString());
        using var doc = JsonDocument.Parse(r.Out);
        var root = doc.RootElement;
        Assert.Equal(run.Vocabulary.Size, root.GetProperty("vocab").GetInt32());
        Assert.Equal(run.Corpus, root.GetProperty("corpus").GetString());
        double cps = root.GetProperty("chars_per_s").GetDouble();
        Assert.True(cps > 0, r.ToString());
        // gflops is chars/s times the arithmetic per character of this vocabulary (rounded to 0.01).
        Assert.Equal(cps * DistRnn.Coordinator.Commands.BenchCommand.FlopsPerChar(16, run.Vocabulary.Size) / 1e9, root.GetProperty("gflops").GetDouble(), 0.006);
    }
}
