using System.Text.Json;
using DistRnn.Data;
using DistRnn.Model;

namespace DistRnn.Coordinator.Commands;

/// <summary>
/// The MODEL.json of the grad command: {"vocab": [...], "hidden": d, "activation": "tanh"|"sigmoid",
/// "U": [[…]] (k×d), "W": (d×d), "V": (d×k), "b": [d], "c": [k]}. Every defect is one clear InputException.
/// </summary>
public sealed record ModelJson(Vocabulary Vocabulary, Activation Activation, Tensors<double> Params)
{
    public static ModelJson Load(string path)
    {
        // A model of MaxCount values written as JSON numbers is well under this; more is not a model file.
        var bytes = InputFile.ReadAllBytes(path, "--model", maxBytes: 64 * ModelShape.MaxCount);
        try { return Parse(bytes, path); }
        catch (JsonException e) { throw new InputException($"--model {path}: invalid JSON ({e.Message})"); }
    }

    /// <summary>Strict UTF-8 JSON; every size is checked before the arrays are allocated.</summary>
    private static ModelJson Parse(byte[] utf8, string name)
    {
        InputException Bad(string why) => new($"--model {name}: {why}");
        string json = Corpus.DecodeUtf8($"--model {name}", utf8);
        using var doc = JsonDocument.Parse(json);
        var root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object) throw Bad("must be a JSON object");
        var keys = new HashSet<string>();
        foreach (var prop in root.EnumerateObject())
            if (!keys.Add(prop.Name)) throw Bad($"\"{prop.Name}\" appears twice");
        JsonElement Get(string key) => root.TryGetProperty(key, out var v) ? v : throw Bad($"missing \"{key}\"");

        var vocabEl = Get("vocab");
        if (vocabEl.ValueKind != JsonValueKind.Array) throw Bad("\"vocab\" must be an array of one-character strings");
        var symbols = vocabEl.EnumerateArray().Select(e => e.ValueKind == JsonValueKind.String ? e.GetString()! : throw Bad("\"vocab\" must hold strings")).ToList();
        Vocabulary vocab;
        try { vocab = new Vocabulary(symbols); } catch (InputException e) { throw Bad(e.Message); }
        if (vocab.Size < 2) throw Bad("\"vocab\" needs at least 2 characters");

        var hEl = Get("hidden");
        if (hEl.ValueKind != JsonValueKind.Number || !hEl.TryGetInt32(out int d) || d <= 0) throw Bad($"\"hidden\" {hEl.GetRawText()}: must be a positive integer");
        var act = Activation.Tanh;
        if (root.TryGetProperty("activation", out var aEl) && !ActivationExtensions.TryParse(aEl.ValueKind == JsonValueKind.String ? aEl.GetString() : null, out act))
            throw Bad("\"activation\" must be \"tanh\" or \"sigmoid\"");

        int k = vocab.Size;
        var shape = new ModelShape(k, d);
        if (shape.Problem() is string problem) throw Bad($"\"hidden\" {d}: {problem}");
        foreach (var (key, rows, cols) in new[] { ("U", k, d), ("W", d, d), ("V", d, k), ("b", d, 0), ("c", k, 0) })
            if (Get(key) is var el && (el.ValueKind != JsonValueKind.Array || el.GetArrayLength() != rows))
                throw Bad(cols > 0 ? $"\"{key}\" must be {rows}×{cols} (an array of {rows} rows)" : $"\"{key}\" must be an array of {rows} numbers");
        var p = new Tensors<double>(shape);
        ReadMatrix(Get("U"), "U", k, d, p.U, Bad);
        ReadMatrix(Get("W"), "W", d, d, p.W, Bad);
        ReadMatrix(Get("V"), "V", d, k, p.V, Bad);
        ReadVector(Get("b"), "b", d, p.B, Bad);
        ReadVector(Get("c"), "c", k, p.C, Bad);
        return new ModelJson(vocab, act, p);
    }

    private static void ReadMatrix(JsonElement el, string name, int rows, int cols, Span<double> dest, Func<string, InputException> bad)
    {
        if (el.ValueKind != JsonValueKind.Array || el.GetArrayLength() != rows)
            throw bad($"\"{name}\" must be {rows}×{cols} (an array of {rows} rows)");
        int r = 0;
        foreach (var row in el.EnumerateArray())
        {
            if (row.ValueKind != JsonValueKind.Array || row.GetArrayLength() != cols)
                throw bad($"\"{name}\" must be {rows}×{cols}: row {r} does not have {cols} numbers");
            ReadVector(row, $"{name}[{r}]", cols, dest.Slice(r * cols, cols), bad);
            r++;
        }
    }

    private static void ReadVector(JsonElement el, string name, int n, Span<double> dest, Func<string, InputException> bad)
    {
        if (el.ValueKind != JsonValueKind.Array || el.GetArrayLength() != n)
            throw bad($"\"{name}\" must be an array of {n} numbers");
        int i = 0;
        foreach (var v in el.EnumerateArray())
        {
            if (v.ValueKind != JsonValueKind.Number || !v.TryGetDouble(out double x) || !double.IsFinite(x))
                throw bad($"\"{name}\"[{i}] must be a finite number");
            dest[i++] = x;
        }
    }
}
