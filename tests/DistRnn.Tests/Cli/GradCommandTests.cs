using System.Text.Json;
using DistRnn.Model;
using DistRnn.Tests.Model;

namespace DistRnn.Tests.Cli;

[Collection("Console")]
public class GradCommandTests
{
    [Theory]
    [InlineData("tanh")]
    [InlineData("sigmoid")]
    public async Task Grad_prints_the_exact_gradients_of_the_text_as_one_sequence(string activation)
    {
        var dir = TestUtil.TempDir();
        var shape = new ModelShape(4, 3);
        var p = TestUtil.RandomParams<double>(shape, 8);
        string[] vocab = ["\n", "d", "e", "p"];
        double[][] Rows(Span<double> m, int rows, int cols) { var a = m.ToArray(); return Enumerable.Range(0, rows).Select(r => a[(r * cols)..((r + 1) * cols)]).ToArray(); }
        var json = JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["vocab"] = vocab, ["hidden"] = 3, ["activation"] = activation,
            ["U"] = Rows(p.U, 4, 3), ["W"] = Rows(p.W, 3, 3), ["V"] = Rows(p.V, 3, 4), ["b"] = p.B.ToArray(), ["c"] = p.C.ToArray(),
        });
        var modelPath = Path.Combine(dir, "model.json"); File.WriteAllText(modelPath, json);
        var textPath = Path.Combine(dir, "deep.txt"); File.WriteAllText(textPath, "deep\n");

        var r = await CliRunner.Run("grad", "--model", modelPath, "--text", textPath);
        Assert.Equal(0, r.Code);
        using var doc = JsonDocument.Parse(r.Out);
        var expected = IndependentRnn.From(p, activation == "tanh").Grad([1, 2, 2, 3, 0]);
        Assert.Equal(expected.Loss, doc.RootElement.GetProperty("loss").GetDouble(), 1e-12);
        var dW = doc.RootElement.GetProperty("dW");
        Assert.Equal(3, dW.GetArrayLength());
        for (int i = 0; i < 3; i++) for (int j = 0; j < 3; j++) Assert.Equal(expected.dW[i, j], dW[i][j].GetDouble(), 1e-12);
        var dU = doc.RootElement.GetProperty("dU");
        Assert.Equal(4, dU.GetArrayLength());
        for (int i = 0; i < 4; i++) for (int j = 0; j < 3; j++) Assert.Equal(expected.dU[i, j], dU[i][j].GetDouble(), 1e-12);
        var dV = doc.RootElement.GetProperty("dV");
        for (int i = 0; i < 3; i++) for (int j = 0; j < 4; j++) Assert.Equal(expected.dV[i, j], dV[i][j].GetDouble(), 1e-12);
        for (int j = 0; j < 3; j++) Assert.Equal(expected.db[j], doc.RootElement.GetProperty("db")[j].GetDouble(), 1e-12);
        for (int i = 0; i < 4; i++) Assert.Equal(expected.dc[i], doc.RootElement.GetProperty("dc")[i].GetDouble(), 1e-12);
    }
}
