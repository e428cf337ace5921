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
        string text;
        try { text = File.ReadAllText(path); }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException) { throw new InputException($"--model {path}: file not found"); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new InputException($"--model {path}: cannot read ({e.Message})"); }
        try { return Parse(text, path); }
        catch (JsonException e) { throw new InputException($"--model {path}: invalid JSON ({e.Message})"); }
    }

    public static ModelJson Parse(string json, string name)
    {
        InputException Bad(string why) => new($"--model {name}: {why}");
        using var doc = JsonDocument.Parse(json);
        var root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object) throw Bad("must be a JSON object");
        JsonElement Get(string key) => root.TryGetProperty(key, out var v) ? v : throw Bad($"missing \"{key}\"");

        var vocabEl = Get("vocab");
        if (vocabEl.ValueKind != JsonValueKind.Array) throw Bad("\"vocab\" must be an array of one-character strings");
        var symbols = vocabEl.EnumerateArray().Select(e => e.ValueKind == JsonValueKind.String ? e.GetString()! : throw Bad("\"vocab\" must hold strings")).ToList();
        Vocabulary vocab;
        try { vocab = new Vocabulary(symbols); } catch (InputException e) { throw Bad(e.Message); }
        if (vocab.Size < 2) throw Bad("\"vocab\" needs at least 2 characters");

        var hEl = Get("hidden");
        if (hEl.ValueKind != JsonValueKind.Number || !hEl.TryGetInt32(out int d) || d <= 0) throw Bad("\"hidden\" must be a positive integer");
        var act = Activation.Tanh;
        if (root.TryGetProperty("activation", out var aEl) && !ActivationExtensions.TryParse(aEl.ValueKind == JsonValueKind.String ? aEl.GetString() : null, out act))
            throw Bad("\"activation\" must be \"tanh\" or \"sigmoid\"");

        int k = vocab.Size;
        var shape = new ModelShape(k, d);
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
