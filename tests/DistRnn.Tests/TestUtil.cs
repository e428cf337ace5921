using System.Numerics;
using DistRnn.Data;
using DistRnn.Model;
using DistRnn.Util;

namespace DistRnn.Tests;

internal static class TestUtil
{
    /// <summary>A model with every parameter uniform in (−scale, scale), from the seed.</summary>
    public static Tensors<T> RandomParams<T>(ModelShape shape, long seed, double scale = 0.5) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var p = new Tensors<T>(shape);
        var rng = new Rng((ulong)seed);
        for (int i = 0; i < p.Data.Length; i++) p.Data[i] = T.CreateTruncating((2 * rng.NextDouble() - 1) * scale);
        return p;
    }

    public static int[] RandomTokens(int count, int vocab, long seed)
    {
        var rng = new Rng((ulong)seed + 17);
        var t = new int[count];
        for (int i = 0; i < count; i++) t[i] = (int)rng.NextLong(vocab);
        return t;
    }

    public static Corpus CorpusOf(string text) => Corpus.FromBytes("test", System.Text.Encoding.UTF8.GetBytes(text), null);

    public static string TempDir()
    {
        var d = Path.Combine(Path.GetTempPath(), "distrnn-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(d);
        return d;
    }

    /// <summary>Writes <paramref name="content"/> to <paramref name="dir"/>/<paramref name="name"/> and returns the path.</summary>
    public static string WriteFile(string dir, string name, byte[] content)
    {
        var p = Path.Combine(dir, name);
        File.WriteAllBytes(p, content);
        return p;
    }

    /// <summary>Some text with a small alphabet, long enough for a few batches.</summary>
    public static string SmallText(int repeats = 40) =>
        string.Concat(Enumerable.Repeat("the quick brown fox jumps over the lazy dog.\nto be or not to be, that is the question.\n", repeats));
}

/// <summary>Tests that redirect the process-wide Console run one at a time.</summary>
[CollectionDefinition("Console", DisableParallelization = true)]
public sealed class ConsoleCollection;
