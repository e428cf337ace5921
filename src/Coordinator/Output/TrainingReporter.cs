using System.Globalization;
using System.Text.Json;
using DistRnn.Coordinator.Training;

namespace DistRnn.Coordinator.Output;

/// <summary>
/// Turns training events into what the user sees and what stays in the output folder:
/// <list type="bullet">
/// <item>stdout: on a terminal one status line rewritten in place (step of steps, loss, validation loss,
///   characters/s, workers, ETA) plus a permanent line per validation and checkpoint; when stdout is
///   redirected, plain lines every --log-every steps; with --json, the JSON events of CONTRACT.md;</item>
/// <item>stderr: warnings;</item>
/// <item>metrics.jsonl: one JSON line per logged step; loss.png: redrawn at every checkpoint.</item>
/// </list>
/// </summary>
public sealed class TrainingReporter : ITrainingObserver, IDisposable
{
    public const string MetricsName = "metrics.jsonl", PlotName = "loss.png";

    // Plain '+' in the time stamps instead of \u002B, paths in any script as they are: for people and jq alike.
    private static readonly JsonSerializerOptions Json = DistRnn.Util.ReadableJson.Options;
    private static readonly TimeSpan LiveRefresh = TimeSpan.FromMilliseconds(100);

    private readonly bool _json;
    private readonly bool _live;
    private readonly int _logEvery;
    private readonly StreamWriter? _metrics;
    private readonly string? _plotPath;
    private readonly LossHistory _history;
    private readonly object _gate = new();
    private string _plotTitle = "DistRnn training";
    private bool _plotFailed;
    private int _liveLength;
    private DateTime _lastLive = DateTime.MinValue;
    private (long Step, double Loss)? _lastVal;

    /// <param name="json">JSON lines on stdout (CONTRACT.md), nothing else there.</param>
    /// <param name="logEvery">Plain lines and metrics.jsonl lines every this many steps (and at validations, skips and the last step).</param>
    /// <param name="metricsPath">metrics.jsonl; loss.png goes beside it. Null: neither is written.</param>
    /// <param name="live">Rewrite one status line in place; default: when stdout is a terminal and not --json.</param>
    /// <param name="startStep">The step the run continues from (0: a new run): metrics.jsonl is first cut back to it (<see cref="MetricsLog.KeepUpTo"/>).</param>
    public TrainingReporter(bool json, int logEvery, string? metricsPath, bool? live = null, long startStep = 0)
    {
        _json = json;
        _live = !json && (live ?? !Console.IsOutputRedirected);
        _logEvery = Math.Max(1, logEvery);
        if (metricsPath is not null)
        {
            var dir = Path.GetDirectoryName(Path.GetFullPath(metricsPath))!;
            Directory.CreateDirectory(dir);
            MetricsLog.KeepUpTo(metricsPath, startStep);
            _history = LossHistory.FromMetrics(metricsPath);
            _metrics = new StreamWriter(new FileStream(metricsPath, FileMode.Append, FileAccess.Write, FileShare.Read)) { AutoFlush = true };
            _plotPath = Path.Combine(dir, PlotName);
        }
        else _history = new LossHistory();
    }

    /// <summary>The title of loss.png (ASCII: the embedded plot font has nothing else).</summary>
    public string PlotTitle { set => _plotTitle = new string(value.Select(ch => ch is >= ' ' and <= '~' ? ch : '?').ToArray()); }

    public void Info(string message)
    {
        lock (_gate)
        {
            if (_json) Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object?> { ["event"] = "info", ["message"] = message }, Json));
            else Line(message);
        }
    }

    public void OnStep(StepReport r)
    {
        lock (_gate)
        {
            bool log = r.Step % _logEvery == 0 || r.Step == r.TotalSteps || r.ValLoss.HasValue || r.Skipped;
            _history.Add(r.Step, r.Skipped ? null : r.Loss, r.ValLoss);
            if (r.ValLoss is double measured) _lastVal = (r.Step, measured);

            if (_json)
            {
                var e = new Dictionary<string, object?>
                {
                    ["event"] = "step", ["step"] = r.Step, ["loss"] = Num(r.Loss), ["chars_per_s"] = Math.Round(r.CharsPerSecond, 1),
                    ["workers"] = r.Workers,
                };
                if (r.ValLoss is double v) e["val_loss"] = Num(v);
                if (r.Skipped) e["skipped"] = true;
                Console.WriteLine(JsonSerializer.Serialize(e, Json));
            }
            else if (_live)
            {
                // Permanent lines only where something was measured; the rest is the one rewritten line.
                if (r.ValLoss.HasValue || r.Skipped) Line(Progress(r));
                else if (DateTime.UtcNow - _lastLive >= LiveRefresh || r.Step == r.TotalSteps) Status(Progress(r));
            }
            else if (log) Console.WriteLine(Progress(r));

            if (log && _metrics is not null)
            {
                var m = new Dictionary<string, object?>
                {
                    ["step"] = r.Step, ["loss"] = Num(r.Loss), ["val_loss"] = r.ValLoss is double vv ? Num(vv) : null,
                    ["chars_per_s"] = Math.Round(r.CharsPerSecond, 1), ["workers"] = r.Workers, ["lr"] = r.LearningRate,
                    ["grad_norm"] = Num(r.GradNorm), ["time"] = DateTimeOffset.UtcNow.ToString("O"), ["elapsed_s"] = Math.Round(r.Elapsed.TotalSeconds, 3),
                };
                if (r.Skipped) m["skipped"] = true;
                _metrics.WriteLine(JsonSerializer.Serialize(m, Json));
            }
        }
    }

    private string Progress(StepReport r)
    {
        int width = r.TotalSteps.ToString(CultureInfo.InvariantCulture).Length;
        var val = r.ValLoss is double v ? $"  val {v:F4}" : _lastVal is { } lv ? $"  val {lv.Loss:F4} @{lv.Step}" : "";
        var eta = r.Step < r.TotalSteps && r.Eta is TimeSpan t ? $"  eta {Format(t)}" : "";
        var loss = r.Skipped ? "skipped (non-finite gradient)" : $"loss {r.Loss:F4}";
        return string.Create(CultureInfo.InvariantCulture,
            $"step {r.Step.ToString(CultureInfo.InvariantCulture).PadLeft(width)}/{r.TotalSteps}  {loss}{val}  {r.CharsPerSecond / 1000:F1}k chars/s  workers {r.Workers}{eta}");
    }

    public void OnCheckpoint(string path, long step, bool isBest)
    {
        lock (_gate)
        {
            if (_json) Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object?> { ["event"] = "checkpoint", ["step"] = step, ["path"] = path, ["best"] = isBest }, Json));
            else Line($"checkpoint {path}{(isBest ? " (best validation so far, also best.bin)" : "")}");
            DrawPlot();
        }
    }

    /// <summary>Redraws loss.png; a failure (e.g. no native SkiaSharp for this platform) is reported once and training goes on.</summary>
    private void DrawPlot()
    {
        if (_plotPath is null || _plotFailed) return;
        try { LossPlot.Write(_plotPath, _history, _plotTitle); }
        catch (Exception e)
        {
            _plotFailed = true;
            Warn($"warning: {PlotName} not drawn ({Cli.OneLine(e.GetBaseException().Message)}); training goes on, the numbers are in {MetricsName}");
        }
    }

    public void OnWarning(string message)
    {
        lock (_gate) Warn(message);
    }

    private void Warn(string message)
    {
        ClearStatus();
        Console.Error.WriteLine(message);
    }

    public void Done(TrainResult result)
    {
        lock (_gate)
        {
            if (_json)
                Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object?>
                {
                    ["event"] = result.Interrupted ? "interrupted" : "done", ["step"] = result.Step, ["train_loss"] = Num(result.TrainLoss), ["val_loss"] = Num(result.ValLoss),
                    ["params_sha256"] = result.ParamsSha256,
                }, Json));
            else
                Line(string.Create(CultureInfo.InvariantCulture,
                    $"{(result.Interrupted ? "interrupted" : "done")}: step {result.Step}  train loss {result.TrainLoss:F4}  val loss {result.ValLoss:F4}  params_sha256 {result.ParamsSha256}"));
        }
    }

    /// <summary>A permanent line: clears the status line first so the two never mix.</summary>
    private void Line(string text)
    {
        ClearStatus();
        Console.WriteLine(text);
    }

    private void Status(string text)
    {
        int max = TerminalWidth() - 1; // a line that wraps cannot be rewritten with \r
        if (text.Length > max) text = text[..max];
        Console.Write("\r" + text + new string(' ', Math.Max(0, _liveLength - text.Length)));
        Console.Out.Flush();
        _liveLength = text.Length;
        _lastLive = DateTime.UtcNow;
    }

    private void ClearStatus()
    {
        if (_liveLength == 0) return;
        Console.Write("\r" + new string(' ', _liveLength) + "\r");
        _liveLength = 0;
    }

    private static int TerminalWidth()
    {
        try { return Console.WindowWidth > 20 ? Console.WindowWidth : 120; }
        catch (Exception e) when (e is IOException or PlatformNotSupportedException or InvalidOperationException) { return 120; }
    }

    /// <summary>JSON has no NaN: a non-finite value is written as null.</summary>
    private static double? Num(double v) => double.IsFinite(v) ? v : null;

    private static string Format(TimeSpan t) => t.TotalHours >= 1 ? $"{(int)t.TotalHours}h{t.Minutes:D2}m" : t.TotalMinutes >= 1 ? $"{(int)t.TotalMinutes}m{t.Seconds:D2}s" : $"{t.Seconds}s";

    public void Dispose()
    {
        lock (_gate) ClearStatus();
        _metrics?.Dispose();
    }
}
