using System.Text;

namespace DistRnn.Data;

/// <summary>
/// The sorted distinct characters (Unicode scalar values) of a corpus; a character's position is its one-hot index.
/// Stored with every model so a checkpoint decodes without the corpus.
/// </summary>
public sealed class Vocabulary
{
    private readonly Dictionary<int, int> _index = new();

    /// <summary>Each entry is one Unicode scalar value as a string (a surrogate pair for characters beyond the BMP).</summary>
    public IReadOnlyList<string> Symbols { get; }

    public int Size => Symbols.Count;

    public Vocabulary(IEnumerable<string> symbols)
    {
        var list = symbols.ToList();
        for (int i = 0; i < list.Count; i++)
        {
            var s = list[i];
            if (Rune.DecodeFromUtf16(s, out var rune, out int used) != System.Buffers.OperationStatus.Done || used != s.Length)
                throw new InputException($"vocabulary entry {i} ({Escape(s)}) is not exactly one character");
            if (!_index.TryAdd(rune.Value, i))
                throw new InputException($"vocabulary entry {i} ({Escape(s)}) appears twice");
        }
        Symbols = list;
    }

    /// <summary>The vocabulary of a text: its distinct characters in code-point order.</summary>
    public static Vocabulary FromText(string text)
    {
        var set = new SortedSet<int>();
        foreach (var r in text.EnumerateRunes()) set.Add(r.Value);
        return new Vocabulary(set.Select(v => new Rune(v).ToString()));
    }

    public bool Contains(Rune r) => _index.ContainsKey(r.Value);

    public int IndexOf(Rune r) => _index.TryGetValue(r.Value, out int i) ? i : -1;

    /// <summary>Token ids of a text; a character outside the vocabulary is an error naming it and its position.</summary>
    public int[] Encode(string text, string what)
    {
        var ids = new List<int>(text.Length);
        int pos = 0;
        foreach (var r in text.EnumerateRunes())
        {
            int i = IndexOf(r);
            if (i < 0) throw new InputException($"{what}: character {Escape(r.ToString())} at position {pos} is not in the model's vocabulary");
            ids.Add(i);
            pos++;
        }
        return ids.ToArray();
    }

    public string Decode(IEnumerable<int> ids) => string.Concat(ids.Select(i => Symbols[i]));

    /// <summary>A character or text quoted for a human line, readable in any script: <c>"春"</c>, <c>"\n"</c> (<see cref="Util.ReadableJson.Quote"/>).</summary>
    public static string Escape(string s) => Util.ReadableJson.Quote(s);
}
