using System.Globalization;
using System.Text.Json;
using DistRnn.Training;

namespace DistRnn.Cli.Output;

/// <summary>
/// Turns training events into progress on stdout (plain lines, or JSON lines with --json), warnings on
/// stderr, and one metrics.jsonl line per logged step in the output folder.
/// </summary>
public sealed class TrainingReporter : ITrainingObserver, IDisposable
{
    private readonly bool _json;
    private readonly int _logEvery;
    private readonly StreamWriter? _metrics;
    private readonly object _gate = new();

    public TrainingReporter(bool json, int logEvery, string? metricsPath)
    {
        _json = json;
        _logEvery = Math.Max(1, logEvery);
        if (metricsPath is not null)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(metricsPath))!);
            _metrics = new StreamWriter(new FileStream(metricsPath, FileMode.Append, FileAccess.Write, FileShare.Read)) { AutoFlush = true };
        }
    }

    public void Info(string message)
    {
        lock (_gate)
        {
            if (_json) Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object?> { ["event"] = "info", ["message"] = message }));
            else Console.WriteLine(message);
        }
    }

    public void OnStep(StepReport r)
    {
        lock (_gate)
        {
            bool log = r.Step % _logEvery == 0 || r.Step == r.TotalSteps || r.ValLoss.HasValue || r.Skipped;
            if (_json)
            {
                var e = new Dictionary<string, object?>
                {
                    ["event"] = "step", ["step"] = r.Step, ["loss"] = Num(r.Loss), ["chars_per_s"] = Math.Round(r.CharsPerSecond, 1),
                    ["workers"] = r.Workers,
                };
                if (r.ValLoss is double v) e["val_loss"] = Num(v);
                if (r.Skipped) e["skipped"] = true;
                Console.WriteLine(JsonSerializer.Serialize(e));
            }
            else if (log)
            {
                var val = r.ValLoss is double v ? $"  val {v:F4}" : "";
                var eta = r.Eta is TimeSpan t ? $"  eta {Format(t)}" : "";
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"step {r.Step}/{r.TotalSteps}  loss {r.Loss:F4}{val}  {r.CharsPerSecond / 1000:F1}k chars/s  workers {r.Workers}{eta}"));
            }
            if (log && _metrics is not null)
            {
                var m = new Dictionary<string, object?>
                {
                    ["step"] = r.Step, ["loss"] = Num(r.Loss), ["val_loss"] = r.ValLoss is double vv ? Num(vv) : null,
                    ["chars_per_s"] = Math.Round(r.CharsPerSecond, 1), ["workers"] = r.Workers, ["lr"] = r.LearningRate,
                    ["grad_norm"] = Num(r.GradNorm), ["time"] = DateTimeOffset.UtcNow.ToString("O"), ["elapsed_s"] = Math.Round(r.Elapsed.TotalSeconds, 3),
                };
                _metrics.WriteLine(JsonSerializer.Serialize(m));
            }
        }
    }

    public void OnCheckpoint(string path, long step, bool isBest)
    {
        lock (_gate)
        {
            if (_json) Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object?> { ["event"] = "checkpoint", ["step"] = step, ["path"] = path, ["best"] = isBest }));
            else Console.WriteLine($"checkpoint {path}{(isBest ? " (best validation so far)" : "")}");
        }
    }

    public void OnWarning(string message)
    {
        lock (_gate) Console.Error.WriteLine(message);
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
                }));
            else
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{(result.Interrupted ? "interrupted" : "done")}: step {result.Step}  train loss {result.TrainLoss:F4}  val loss {result.ValLoss:F4}  params_sha256 {result.ParamsSha256}"));
        }
    }

    /// <summary>JSON has no NaN: a non-finite value is written as null.</summary>
    private static double? Num(double v) => double.IsFinite(v) ? v : null;

    private static string Format(TimeSpan t) => t.TotalHours >= 1 ? $"{(int)t.TotalHours}h{t.Minutes:D2}m" : t.TotalMinutes >= 1 ? $"{(int)t.TotalMinutes}m{t.Seconds:D2}s" : $"{t.Seconds}s";

    public void Dispose() => _metrics?.Dispose();
}
