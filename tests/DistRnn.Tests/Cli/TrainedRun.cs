using Xunit;

namespace DistRnn.Tests.Cli;

/// <summary>One short single-process training run into a temporary folder, shared by the tests that read its output.</summary>
public sealed class TrainedRun : IAsyncLifetime
{
    public const int Steps = 60, LogEvery = 5, EvalEvery = 10, CheckpointEvery = 20, Hidden = 24;

    public string Dir { get; } = TestUtil.TempDir();
    public string Out => Path.Combine(Dir, "out");
    public string Corpus { get; private set; } = "";
    internal CliRunner.Result Train { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Corpus = TrainedRun.WriteCorpus(Dir);
        Train = await CliRunner.Run("train", "--workers", "0", "--corpus", Corpus, "--hidden", $"{Hidden}", "--seq", "16", "--batch", "8",
            "--steps", $"{Steps}", "--lr", "0.01", "--lr-schedule", "constant", "--checkpoint-every", $"{CheckpointEvery}", "--eval-every", $"{EvalEvery}",
            "--log-every", $"{LogEvery}", "--out", Out);
    }

    /// <summary>A small corpus of short lines (so completions end at newlines), as corpus.txt in <paramref name="dir"/>.</summary>
    public static string WriteCorpus(string dir)
    {
        var lines = new[]
        {
            "the cat sat on the mat", "the dog sat on the log", "a cat and a dog", "the mat and the log",
            "to be or not to be", "the cat is on the mat", "a dog is on a log", "sat the cat, sat the dog",
        };
        var text = string.Join("\n", Enumerable.Range(0, 30).Select(i => lines[i % lines.Length])) + "\n";
        var path = Path.Combine(dir, "corpus.txt");
        File.WriteAllText(path, text);
        return path;
    }

    public Task DisposeAsync()
    {
        try { Directory.Delete(Dir, recursive: true); } catch (IOException) { }
        return Task.CompletedTask;
    }
}
