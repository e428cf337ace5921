using System.Reflection;
using System.Security.Cryptography;
using System.Text;

namespace DistRnn.Data;

/// <summary>
/// A training text: its bytes' SHA-256 (workers prove they hold the same file), its vocabulary, its
/// token ids and the train/validation split (the last <c>valFrac</c> of the characters is validation).
/// </summary>
public sealed class Corpus
{
    public const string EmbeddedName = "tinyshakespeare (embedded)";

    public string Name { get; }
    public string Sha256 { get; }
    public Vocabulary Vocabulary { get; }
    public int[] Tokens { get; }

    private Corpus(string name, string sha, Vocabulary vocab, int[] tokens)
    {
        Name = name; Sha256 = sha; Vocabulary = vocab; Tokens = tokens;
    }

    public static byte[] EmbeddedBytes()
    {
        using var stream = typeof(Corpus).Assembly.GetManifestResourceStream("DistRnn.tinyshakespeare.txt")
            ?? throw new InvalidOperationException("the embedded corpus is missing from the assembly");
        using var ms = new MemoryStream();
        stream.CopyTo(ms);
        return ms.ToArray();
    }

    /// <summary>Loads FILE, or the embedded tiny-shakespeare when path is null.</summary>
    public static Corpus Load(string? path)
    {
        if (path is null) return FromBytes(EmbeddedName, EmbeddedBytes(), vocabulary: null);
        var bytes = InputFile.ReadAllBytes(path, "--corpus");
        return FromBytes(path, bytes, vocabulary: null, $"--corpus {path}");
    }

    /// <summary>
    /// Decodes strict UTF-8 (a leading BOM is skipped). With <paramref name="vocabulary"/> the text is
    /// encoded in that vocabulary (a character outside it is an error); otherwise the vocabulary is the text's own.
    /// Errors begin with <paramref name="what"/> (default "corpus NAME"): the option that named the file.
    /// </summary>
    public static Corpus FromBytes(string name, byte[] bytes, Vocabulary? vocabulary, string? what = null)
    {
        what ??= $"corpus {name}";
        string text = DecodeUtf8(what, bytes);
        if (text.Length == 0) throw new InputException($"{what}: is empty");
        var vocab = vocabulary ?? Vocabulary.FromText(text);
        if (vocab.Size < 2) throw new InputException($"{what}: has only one distinct character; at least 2 are needed");
        var tokens = vocab.Encode(text, what);
        if (tokens.Length < 2) throw new InputException($"{what}: has only one character; at least 2 are needed");
        return new Corpus(name, Convert.ToHexStringLower(SHA256.HashData(bytes)), vocab, tokens);
    }

    /// <summary>Strict UTF-8 (a leading BOM skipped); an invalid byte is an error "<paramref name="what"/>: invalid UTF-8 at byte offset N".</summary>
    public static string DecodeUtf8(string what, byte[] bytes)
    {
        ReadOnlySpan<byte> span = bytes;
        int offset = 0;
        if (span.StartsWith((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF])) offset = 3;
        int pos = offset;
        while (pos < span.Length)
        {
            var status = Rune.DecodeFromUtf8(span[pos..], out _, out int consumed);
            if (status != System.Buffers.OperationStatus.Done)
                throw new InputException($"{what}: invalid UTF-8 at byte offset {pos}");
            pos += consumed;
        }
        return Encoding.UTF8.GetString(span[offset..]);
    }

    /// <summary>Index of the first validation character: the last valFrac of the text is validation.</summary>
    public int SplitIndex(double valFrac) => (int)Math.Floor(Tokens.Length * (1.0 - valFrac));
}
