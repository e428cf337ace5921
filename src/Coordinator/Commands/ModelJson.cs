using System.Text.Json;
using DistRnn.Data;
using DistRnn.Model;

namespace DistRnn.Coordinator.Commands;

/// <summary>
/// The MODEL.json of the grad command (docs/cells.md): today's {"vocab": [...], "hidden": d, "activation": "tanh"|"sigmoid",
/// "U": [[…]] (k×d), "W": (d×d), "V": (d×k), "b": [d], "c": [k]}, or the layered one {"vocab", "cell": "rnn"|"lstm"|"gru",
/// "hidden", "activation" (rnn only), "layers": [{…} per layer], "V", "c"} whose layers hold U, W, b (rnn), Wx, Wh, b
/// (lstm) or Wx, Wh, bx, bh (gru). Every defect is one clear InputException.
/// </summary>
/// <param name="Layered">the model came in the layered format (and its gradients go out in it)</param>
public sealed record ModelJson(Vocabulary Vocabulary, Activation Activation, Tensors<double> Params, bool Layered = false)
{
    /// <summary>Per-layer tensor names of a cell in MODEL.json (the gradients are "d" + these), in layout order.</summary>
    public static string[] LayerKeys(Cell cell) => cell switch
    {
        Cell.Lstm => ["Wx", "Wh", "b"],
        Cell.Gru => ["Wx", "Wh", "bx", "bh"],
        _ => ["U", "W", "b"],
    };

    /// <summary>Layer <paramref name="l"/>'s tensor called <paramref name="key"/> in <paramref name="p"/>, with its rows and columns (0 columns: a vector).</summary>
    public static (int Rows, int Cols) LayerTensor(ModelShape shape, int l, string key) => key switch
    {
        "U" or "Wx" => (shape.LayerInput(l), shape.GateWidth),
        "W" or "Wh" => (shape.D, shape.GateWidth),
        _ => (shape.GateWidth, 0),
    };

    public static Span<double> LayerSpan(Tensors<double> p, int l, string key) => key switch
    {
        "U" or "Wx" => p.Wx(l),
        "W" or "Wh" => p.Wh(l),
        "bh" => p.BiasH(l),
        _ => p.Bias(l),
    };

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
        if (root.TryGetProperty("layers", out var layersEl)) return ParseLayered(root, layersEl, vocab, d, act, aEl, Get, Bad);
        if (root.TryGetProperty("cell", out var cellEl) && !(cellEl.ValueKind == JsonValueKind.String && cellEl.GetString() == "rnn"))
            throw Bad("\"cell\" other than \"rnn\" needs the layered format (a \"layers\" array)");
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

    private static ModelJson ParseLayered(JsonElement root, JsonElement layersEl, Vocabulary vocab, int d, Activation act, JsonElement aEl,
        Func<string, JsonElement> get, Func<string, InputException> bad)
    {
        var cell = Cell.Rnn;
        if (root.TryGetProperty("cell", out var cEl) && !CellExtensions.TryParse(cEl.ValueKind == JsonValueKind.String ? cEl.GetString() : null, out cell))
            throw bad("\"cell\" must be \"rnn\", \"lstm\" or \"gru\"");
        if (cell != Cell.Rnn && aEl.ValueKind != JsonValueKind.Undefined && act != Activation.Tanh)
            throw bad($"\"activation\" applies to the rnn cell only, not {cell.Name()}");
        if (layersEl.ValueKind != JsonValueKind.Array || layersEl.GetArrayLength() < 1)
            throw bad("\"layers\" must be a non-empty array of layer objects");
        int k = vocab.Size;
        var shape = new ModelShape(k, d, cell, layersEl.GetArrayLength());
        if (shape.Problem() is string problem) throw bad($"\"layers\": {problem}");
        var p = new Tensors<double>(shape);
        int l = 0;
        foreach (var layer in layersEl.EnumerateArray())
        {
            string at = $"layers[{l}]";
            if (layer.ValueKind != JsonValueKind.Object) throw bad($"\"{at}\" must be an object");
            var keys = LayerKeys(cell);
            foreach (var prop in layer.EnumerateObject())
                if (!keys.Contains(prop.Name)) throw bad($"\"{at}\" has \"{prop.Name}\"; a {cell.Name()} layer holds {string.Join(", ", keys.Select(x => $"\"{x}\""))}");
            foreach (var key in keys)
            {
                if (!layer.TryGetProperty(key, out var el)) throw bad($"\"{at}\" lacks \"{key}\"");
                var (rows, cols) = LayerTensor(shape, l, key);
                if (cols > 0) ReadMatrix(el, $"{at}.{key}", rows, cols, LayerSpan(p, l, key), bad);
                else ReadVector(el, $"{at}.{key}", rows, LayerSpan(p, l, key), bad);
            }
            l++;
        }
        ReadMatrix(get("V"), "V", d, k, p.V, bad);
        ReadVector(get("c"), "c", k, p.C, bad);
        return new ModelJson(vocab, act, p, Layered: true);
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
