using System.Text.Json;
using DistRnn.Coordinator.Checkpoints;

namespace DistRnn.Tests.Cli;

/// <summary>
/// Issue 16 through the command line: grad against gradients PyTorch's own modules computed (committed test data,
/// bench/grad_torch.py), and train → checkpoint → inspect, sample, complete, eval and resume for every cell.
/// </summary>
[Collection("Console")]
public class CellCommandsTests
{
    private static readonly string TorchCases = Path.Combine(MultiProcess.Executables.RepoRoot, "tests", "DistRnn.Tests", "Model", "TestData", "cells_torch_grads.json");

    public static TheoryData<int> TorchCaseIndices()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(TorchCases));
        var data = new TheoryData<int>();
        for (int i = 0; i < doc.RootElement.GetProperty("cases").GetArrayLength(); i++) data.Add(i);
        return data;
    }

    private static IEnumerable<double> Flat(JsonElement e)
    {
        if (e.ValueKind == JsonValueKind.Number) { yield return e.GetDouble(); yield break; }
        foreach (var x in e.EnumerateArray()) foreach (var v in Flat(x)) yield return v;
    }

    /// <summary>Every tensor within 1e-9 of PyTorch's, relative to the element (or, for elements far below the tensor's largest, to 1e-3 of it).</summary>
    private static void AssertTensor(JsonElement expected, JsonElement actual, string what)
    {
        var e = Flat(expected).ToArray(); var a = Flat(actual).ToArray();
        Assert.True(e.Length == a.Length, $"{what}: {a.Length} values, expected {e.Length}");
        double floor = 1e-3 * e.Select(Math.Abs).DefaultIfEmpty(0).Max();
        for (int i = 0; i < e.Length; i++)
            Assert.True(Math.Abs(a[i] - e[i]) <= 1e-9 * Math.Max(Math.Abs(e[i]), floor) || a[i] == e[i], $"{what}[{i}]: {a[i]:R} vs PyTorch's {e[i]:R}");
    }

    [Theory]
    [MemberData(nameof(TorchCaseIndices))]
    public async Task Grad_matches_pytorch_autograd_for_every_cell_and_depth(int index)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(TorchCases));
        var c = doc.RootElement.GetProperty("cases")[index];
        var dir = TestUtil.TempDir();
        var model = Path.Combine(dir, "model.json"); File.WriteAllText(model, c.GetProperty("model").GetRawText());
        var text = Path.Combine(dir, "text.txt"); File.WriteAllText(text, c.GetProperty("text").GetString());
        var r = await CliRunner.Run("grad", "--model", model, "--text", text);
        Assert.True(r.Code == 0, r.ToString());
        using var outDoc = JsonDocument.Parse(r.Out);
        var got = outDoc.RootElement;
        var want = c.GetProperty("expected");
        string name = c.GetProperty("name").GetString()!;
        double loss = want.GetProperty("loss").GetDouble();
        Assert.True(Math.Abs(got.GetProperty("loss").GetDouble() - loss) <= 1e-12 * Math.Abs(loss), $"{name}: loss {got.GetProperty("loss")} vs {loss}");
        AssertTensor(want.GetProperty("dV"), got.GetProperty("dV"), $"{name} dV");
        AssertTensor(want.GetProperty("dc"), got.GetProperty("dc"), $"{name} dc");
        var layers = want.GetProperty("layers");
        Assert.Equal(layers.GetArrayLength(), got.GetProperty("layers").GetArrayLength());
        for (int l = 0; l < layers.GetArrayLength(); l++)
            foreach (var t in layers[l].EnumerateObject())
                AssertTensor(t.Value, got.GetProperty("layers")[l].GetProperty(t.Name), $"{name} layers[{l}].{t.Name}");
        // a 1-layer rnn keeps today's keys besides
        if (name.StartsWith("rnn L=1 ", StringComparison.Ordinal))
            AssertTensor(layers[0].GetProperty("dW"), got.GetProperty("dW"), $"{name} dW");
    }

    [Fact]
    public async Task Grad_refuses_a_layer_with_the_wrong_tensors_in_one_line()
    {
        var dir = TestUtil.TempDir();
        var model = Path.Combine(dir, "model.json");
        File.WriteAllText(model, """{"vocab": ["a", "b"], "cell": "lstm", "hidden": 1, "layers": [{"U": [[1], [1]], "W": [[1]], "b": [0]}], "V": [[1, 1]], "c": [0, 0]}""");
        var text = Path.Combine(dir, "text.txt"); File.WriteAllText(text, "ab");
        var r = await CliRunner.Run("grad", "--model", model, "--text", text);
        Assert.Equal(2, r.Code);
        Assert.Contains("layers[0]", r.Err);
        Assert.Contains("\"Wx\"", r.Err);
    }

    private static string[] Train(string outDir, string cell, string steps = "8") =>
        TrainCommandTests.Train(outDir, ["--cell", cell, "--layers", "2", "--dropout", "0.25", "--steps", steps, "--checkpoint-every", "4"]);

    private static string Sha(CliRunner.Result r) =>
        JsonDocument.Parse(r.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries)[^1]).RootElement.GetProperty("params_sha256").GetString()!;

    private static async Task<CliRunner.Result> Ok(params string[] args)
    {
        var r = await CliRunner.Run(args);
        Assert.True(r.Code == 0, r.ToString());
        return r;
    }

    [Theory]
    [InlineData("rnn")]
    [InlineData("lstm")]
    [InlineData("gru")]
    public async Task A_trained_model_of_every_cell_checkpoints_inspects_samples_completes_evaluates_and_resumes(string cell)
    {
        var dir = TestUtil.TempDir();
        var straight = await Ok(Train(dir, cell));

        var inspect = JsonDocument.Parse((await Ok("inspect", "--checkpoint", dir)).Out).RootElement;
        Assert.Equal(Sha(straight), inspect.GetProperty("params_sha256").GetString());
        var config = inspect.GetProperty("config");
        Assert.Equal(cell, config.GetProperty("cell").GetString());
        Assert.Equal(2, config.GetProperty("layers").GetInt32());
        Assert.Equal(0.25, config.GetProperty("dropout").GetDouble());

        var sample = await Ok("sample", "--checkpoint", dir, "--prime", "the ", "--length", "30");
        Assert.StartsWith("the ", sample.Out);
        Assert.True(sample.Out.TrimEnd('\n').Length >= 34, sample.ToString());
        Assert.Equal(sample.Out, (await Ok("sample", "--checkpoint", dir, "--prime", "the ", "--length", "30")).Out);

        var complete = await Ok("complete", "--checkpoint", dir, "--prefix", "the qu", "--top", "2", "--json");
        Assert.Contains("completions", complete.Out);

        var eval = JsonDocument.Parse((await Ok("eval", "--checkpoint", dir, "--json")).Out).RootElement;
        double loss = eval.GetProperty("loss").GetDouble();
        Assert.InRange(loss, 0.1, Math.Log(30));
        // eval --state carry: the validation text as one stream, every layer's h (and lstm c) handed from window to window
        var carried = JsonDocument.Parse((await Ok("eval", "--checkpoint", dir, "--state", "carry", "--json")).Out).RootElement;
        Assert.Equal("carry", carried.GetProperty("state").GetString());
        Assert.Equal(loss, carried.GetProperty("reset_loss").GetDouble());
        Assert.InRange(carried.GetProperty("loss").GetDouble(), 0.1, Math.Log(30));
        Assert.NotEqual(loss, carried.GetProperty("loss").GetDouble());

        // the same eight steps in two runs: the cell, layers and dropout come back from the checkpoint
        var half = TestUtil.TempDir();
        await Ok(Train(half, cell, steps: "4"));
        var resumed = await Ok("train", "--workers", "0", "--resume", half, "--steps", "8", "--json");
        Assert.Equal(Sha(straight), Sha(resumed));
        var other = await CliRunner.Run("train", "--workers", "0", "--resume", CheckpointStore.PathFor(half, 4), "--cell", cell == "gru" ? "lstm" : "gru", "--steps", "8");
        Assert.Equal(2, other.Code);
        Assert.Contains("--cell", other.Err);
    }

    [Fact]
    public async Task Train_refuses_a_bad_cell_layers_or_dropout_in_one_line()
    {
        foreach (var (args, says) in new[]
        {
            (new[] { "--cell", "tcn" }, "--cell tcn"),
            (new[] { "--layers", "0" }, "--layers 0"),
            (new[] { "--dropout", "1" }, "--dropout 1"),
            (new[] { "--cell", "lstm", "--activation", "sigmoid" }, "--activation sigmoid"),
        })
        {
            var r = await CliRunner.Run(TrainCommandTests.Train(TestUtil.TempDir(), [.. args, "--steps", "2"]));
            Assert.Equal(2, r.Code);
            Assert.Contains(says, r.Err);
        }
    }
}
