using System.CommandLine;
using System.Globalization;
using System.Numerics;
using System.Text;
using System.Text.Json;
using DistRnn.Coordinator.Checkpoints;
using DistRnn.Coordinator.Explain;
using DistRnn.Data;
using DistRnn.Model;

namespace DistRnn.Coordinator.Commands;

/// <summary>
/// `explain`: backpropagation through time path by path for one text as one sequence (float64): the contribution
/// C[t][k] of every path to ∂L_t/∂θ, the explicit and implicit parts, the Jacobian norms ‖∂s_t/∂s_k‖, two pictures
/// and a summary (or one JSON line). Everything is validated before the output folder is created.
/// </summary>
internal static class ExplainCommand
{
    private static readonly Option<string?> Checkpoint = Options.Optional<string>("--checkpoint", "A checkpoint file, or a folder meaning its newest valid checkpoint (or give --model)");
    private static readonly Option<string?> Model = Options.Optional<string>("--model", "MODEL.json as grad takes it: vocab, hidden, activation, U, W, V, b, c (instead of --checkpoint)");
    private static readonly Option<string?> Text = new("--text") { Description = "The text itself; inputs text[0..T−1], targets text[1..T] (or give --text-file)", HelpName = "TEXT" };
    private static readonly Option<string?> TextFile = Options.Optional<string>("--text-file", "A UTF-8 file holding the text (instead of --text)");
    private static readonly Option<string> Param = Options.Make("--param", "The parameter θ whose gradient is taken apart: W, U or b", "W");
    private static readonly Option<string?> Out = Options.Optional<string>("--out", "Output folder for paths.png, decay.png and explain.json (default: runs/explain-<time>)");
    private static readonly Option<bool> Json = new("--json") { Description = "One JSON line on stdout instead of the summary" };

    public static Command Create()
    {
        var cmd = new Command("explain", "Show backpropagation through time path by path: each path's contribution C[t][k] to dL_t/dθ and the Jacobian norms ||ds_t/ds_k||")
            { Checkpoint, Model, Text, TextFile, Param, Out, Json, Options.Verbose };
        cmd.SetAction(parse => Run(parse.GetValue(Checkpoint), parse.GetValue(Model), parse.GetValue(Text), parse.GetValue(TextFile),
            parse.GetValue(Param)!, parse.GetValue(Out), parse.GetValue(Json)));
        return cmd;
    }

    private static int Run(string? checkpointPath, string? modelPath, string? text, string? textFile, string paramName, string? outDir, bool json)
    {
        // Everything is checked before anything is computed or written.
        if ((checkpointPath is null) == (modelPath is null)) throw new InputException("explain: give exactly one of --checkpoint PATH and --model MODEL.json");
        if ((text is null) == (textFile is null)) throw new InputException("explain: give exactly one of --text TEXT and --text-file FILE");
        if (!ExplainParamExtensions.TryParse(paramName, out var param)) throw new InputException($"--param {paramName}: expected W, U or b");
        if (outDir is not null) InputFile.CheckFolder(outDir, "--out");

        var (vocab, activation, p) = modelPath is not null ? FromJson(modelPath) : FromCheckpoint(checkpointPath!);
        if (!p.Shape.IsElman)
            throw new InputException($"{(modelPath is not null ? $"--model {modelPath}" : $"--checkpoint {checkpointPath}")}: explain takes apart the 1-layer rnn only, not a {p.Shape.Layers}-layer {p.Shape.Cell.Name()}");

        string what = text is not null ? "--text" : $"--text-file {textFile}";
        if (textFile is not null)
        {
            text = Corpus.DecodeUtf8(what, InputFile.ReadAllBytes(textFile, "--text-file"));
        }
        var tokens = vocab.Encode(text!, what);
        if (tokens.Length < 2) throw new InputException($"{what}: needs at least 2 characters (one input and its target), got {tokens.Length}");
        int T = tokens.Length - 1;
        if (PathContributions.SizeProblem(T, p.Shape.D) is { } problem) throw new InputException($"{what}: {problem}");

        var report = PathContributions.Compute(p, activation, tokens, param);
        var lastTerms = T <= SummaryTermsUpTo ? PathContributions.Terms(p, activation, tokens, param, T) : null;
        var paths = ExplainPlots.RenderPaths(report, vocab.Symbols);
        var decay = ExplainPlots.RenderDecay(report);
        var jsonLine = JsonLine(report, vocab);

        outDir ??= NewRunFolder();
        Directory.CreateDirectory(outDir);
        AtomicFile.Write(Path.Combine(outDir, "paths.png"), paths);
        AtomicFile.Write(Path.Combine(outDir, "decay.png"), decay);
        AtomicFile.WriteText(Path.Combine(outDir, "explain.json"), jsonLine + "\n");

        if (json) Console.Out.WriteLine(jsonLine);
        else Console.Out.Write(Summary(report, vocab, lastTerms, outDir));
        return Cli.Ok;
    }

    /// <summary>The summary lists the terms of ∂L_T/∂θ one by one for texts up to this many steps.</summary>
    private const int SummaryTermsUpTo = 12;

    private static string NewRunFolder()
    {
        string baseName = Path.Combine("runs", "explain-" + DateTime.Now.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture));
        string dir = baseName;
        for (int i = 2; Directory.Exists(dir) || File.Exists(dir); i++) dir = $"{baseName}-{i}";
        return dir;
    }

    private static (Vocabulary, Activation, Tensors<double>) FromJson(string path)
    {
        var m = ModelJson.Load(path);
        return (m.Vocabulary, m.Activation, m.Params);
    }

    private static (Vocabulary, Activation, Tensors<double>) FromCheckpoint(string path)
    {
        var ck = LoadedModel.Open(path);
        return (ck.Vocabulary, ck.Header.Config.ActivationKind, LoadedModel.With(ck, new AsDouble()));
    }

    /// <summary>The checkpoint's parameters in float64 (a float32 checkpoint converted value by value).</summary>
    private sealed class AsDouble : IModelFunc<Tensors<double>>
    {
        public Tensors<double> Invoke<T>(Tensors<T> p, DistRnn.Coordinator.Checkpoints.Checkpoint ck) where T : unmanaged, IFloatingPointIeee754<T>
            => new(p.Shape, p.Data.Select(double.CreateChecked).ToArray());
    }

    private static string JsonLine(PathReport r, Vocabulary vocab)
    {
        var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, DistRnn.Util.ReadableJson.Writer))
        {
            w.WriteStartObject();
            w.WriteString("param", r.Param.Name());
            w.WriteNumber("T", r.T);
            w.WriteStartArray("tokens");
            foreach (var id in r.Tokens) w.WriteStringValue(vocab.Symbols[id]);
            w.WriteEndArray();
            Triangle(w, "contribution_norms", r.ContributionNorms);
            Vector(w, "explicit_norms", r.ExplicitNorms);
            Vector(w, "implicit_norms", r.ImplicitNorms);
            Triangle(w, "jacobian_spectral", r.JacobianSpectral);
            Triangle(w, "jacobian_frobenius", r.JacobianFrobenius);
            Number(w, "implicit_share", r.ImplicitShare);
            Number(w, "explicit_share", r.ExplicitShare);
            Number(w, "gradient_norm", r.GradientNorm);
            w.WriteStartObject("long_path_shares");
            foreach (var s in r.LongPathShares) Number(w, s.MinSteps.ToString(CultureInfo.InvariantCulture), s.Share);
            w.WriteEndObject();
            w.WriteString("activation", r.Activation.Name());
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
    }

    /// <summary>A non-finite number (an exploding product) is written as null: JSON has no ∞.</summary>
    private static void Number(Utf8JsonWriter w, string name, double v)
    {
        if (double.IsFinite(v)) w.WriteNumber(name, v); else w.WriteNull(name);
    }

    private static void Value(Utf8JsonWriter w, double v)
    {
        if (double.IsFinite(v)) w.WriteNumberValue(v); else w.WriteNullValue();
    }

    private static void Vector(Utf8JsonWriter w, string name, double[] v)
    {
        w.WriteStartArray(name);
        foreach (var x in v) Value(w, x);
        w.WriteEndArray();
    }

    private static void Triangle(Utf8JsonWriter w, string name, double[][] rows)
    {
        w.WriteStartArray(name);
        foreach (var row in rows)
        {
            w.WriteStartArray();
            foreach (var x in row) Value(w, x);
            w.WriteEndArray();
        }
        w.WriteEndArray();
    }

    private static string G(double v) => v.ToString("0.000000e+00", CultureInfo.InvariantCulture);
    private static string Pct(double v) => (100 * v).ToString("0.0", CultureInfo.InvariantCulture) + "%";

    private static string Summary(PathReport r, Vocabulary vocab, double[][]? lastTerms, string outDir)
    {
        string p = r.Param.Name();
        var sb = new StringBuilder();
        string Sym(int t) => Vocabulary.Escape(vocab.Symbols[r.Tokens[t]]);
        sb.AppendLine($"explain: dL/d{p} path by path, {r.T} step{(r.T == 1 ? "" : "s")} ({r.Activation.Name()}, hidden {r.Hidden}, float64)");
        sb.AppendLine($"  ||dL/d{p}||_F = {G(r.GradientNorm)}");
        sb.AppendLine($"  explicit share (k = t): {Pct(r.ExplicitShare)}   implicit share (k < t): {Pct(r.ImplicitShare)}");
        if (r.ExplicitShare + r.ImplicitShare > 1 + 1e-9)
            sb.AppendLine("  (the two parts point partly against each other, so their shares add up to more than 100%)");
        sb.AppendLine("  share through paths longer than n steps (t - k >= n): " + string.Join("  ", r.LongPathShares.Select(s => $"n={s.MinSteps}: {Pct(s.Share)}")));
        var below = r.DistanceBelow(1e-3);
        sb.AppendLine(below is { } b
            ? $"  contributions fall below 1e-3 of the explicit term at distance t - k = {b}"
            : $"  contributions stay above 1e-3 of the explicit term over all {r.T - 1} distances");
        var (jn, jt, jk) = r.LargestJacobian();
        sb.AppendLine(jt > 0
            ? $"  largest ||ds_t/ds_k||_2 = {G(jn)} at t = {jt}, k = {jk} (distance {jt - jk})"
            : "  no Jacobian between two different steps (T = 1)");
        if (lastTerms is not null)
        {
            int T = r.T;
            sb.AppendLine($"  per step t: ||C[t][t]|| (explicit) and ||sum over k < t of C[t][k]|| (implicit) of dL_t/d{p}:");
            for (int t = 1; t <= T; t++)
                sb.AppendLine($"    t = {t}  {Sym(t - 1),-5} -> {Sym(t),-5} explicit {G(r.ExplicitNorms[t - 1])}  implicit {G(r.ImplicitNorms[t - 1])}");
            sb.AppendLine($"  dL_{T}/d{p} = sum over k of C[{T}][k] = dL_{T}/ds_{T} . ds_{T}/ds_k . d+s_k/d{p}  (L_{T}: {Sym(T - 1)} -> {Sym(T)}):");
            for (int k = 1; k <= T; k++)
            {
                string form = r.Param switch
                {
                    ExplainParam.W => $"s_{k - 1}^T delta_{k}^({T})",
                    ExplainParam.U => $"x_{k}^T delta_{k}^({T})  (row {Sym(k - 1)})",
                    _ => $"delta_{k}^({T})",
                };
                string kind = k == T ? "explicit" : $"implicit, {T - k} step{(T - k == 1 ? "" : "s")} back";
                double norm = Math.Sqrt(lastTerms[k - 1].Sum(x => x * x));
                sb.AppendLine($"    k = {k}  input {Sym(k - 1),-5} ||C|| = {G(norm)}  = {form}  ({kind})");
            }
        }
        sb.AppendLine($"  pictures: {Path.Combine(outDir, "paths.png")}, {Path.Combine(outDir, "decay.png")}; numbers: {Path.Combine(outDir, "explain.json")}");
        return sb.ToString();
    }
}
