using System.CommandLine;
using System.Text.Json;
using DistRnn.Data;
using DistRnn.Model;

namespace DistRnn.Coordinator.Commands;

/// <summary>`grad`: loss and exact BPTT gradients in float64 of one text as one sequence, from the plain kernel.</summary>
internal static class GradCommand
{
    private static readonly Option<string> Model = Options.Required("--model", "MODEL.json: vocab, hidden, activation, U, W, V, b, c; or vocab, cell, hidden, layers, V, c (docs/cells.md)");
    private static readonly Option<string> Text = Options.Required("--text", "UTF-8 text; inputs text[0..T−1], targets text[1..T]");

    public static Command Create()
    {
        var cmd = new Command("grad", "Print the loss and the gradients dU, dW, dV, db, dc (per layer for a layered model) of a text under a model (float64, JSON)") { Model, Text, Options.Verbose };
        cmd.SetAction(parse => Run(parse.GetValue(Model)!, parse.GetValue(Text)!));
        return cmd;
    }

    private static int Run(string modelPath, string textPath)
    {
        var model = ModelJson.Load(modelPath);
        var bytes = InputFile.ReadAllBytes(textPath, "--text");
        var tokens = model.Vocabulary.Encode(Corpus.DecodeUtf8($"--text {textPath}", bytes), $"--text {textPath}");
        if (tokens.Length < 2) throw new InputException($"--text {textPath}: needs at least 2 characters (one input and its target)");

        var grad = new Tensors<double>(model.Params.Shape);
        var shape = model.Params.Shape;
        IShardKernel<double> kernel = shape.IsElman ? PlainKernel<double>.Instance : CellKernel<double>.NoDropout;
        double loss = kernel.Accumulate(model.Params, model.Activation, tokens, [new SequenceRef(0, tokens.Length - 1)], grad);

        var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, DistRnn.Util.ReadableJson.Writer))
        {
            int k = grad.Shape.K, d = grad.Shape.D;
            w.WriteStartObject();
            w.WriteNumber("loss", loss);
            if (model.Layered)
            {
                // per layer "d" + the model's names; a 1-layer rnn also keeps today's top-level dU, dW, db
                w.WriteStartArray("layers");
                for (int l = 0; l < shape.Layers; l++)
                {
                    w.WriteStartObject();
                    foreach (var key in ModelJson.LayerKeys(shape.Cell))
                    {
                        var (rows, cols) = ModelJson.LayerTensor(shape, l, key);
                        if (cols > 0) WriteMatrix(w, "d" + key, ModelJson.LayerSpan(grad, l, key), rows, cols);
                        else WriteVector(w, "d" + key, ModelJson.LayerSpan(grad, l, key));
                    }
                    w.WriteEndObject();
                }
                w.WriteEndArray();
            }
            if (!model.Layered || shape.IsElman)
            {
                WriteMatrix(w, "dU", grad.U, k, d);
                WriteMatrix(w, "dW", grad.W, d, d);
            }
            WriteMatrix(w, "dV", grad.V, d, k);
            if (!model.Layered || shape.IsElman) WriteVector(w, "db", grad.B);
            WriteVector(w, "dc", grad.C);
            w.WriteEndObject();
        }
        Console.Out.WriteLine(System.Text.Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length));
        return Cli.Ok;
    }

    private static void WriteMatrix(Utf8JsonWriter w, string name, ReadOnlySpan<double> m, int rows, int cols)
    {
        w.WriteStartArray(name);
        for (int r = 0; r < rows; r++)
        {
            w.WriteStartArray();
            foreach (var v in m.Slice(r * cols, cols)) w.WriteNumberValue(v);
            w.WriteEndArray();
        }
        w.WriteEndArray();
    }

    private static void WriteVector(Utf8JsonWriter w, string name, ReadOnlySpan<double> v)
    {
        w.WriteStartArray(name);
        foreach (var x in v) w.WriteNumberValue(x);
        w.WriteEndArray();
    }
}
