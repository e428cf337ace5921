using System.Text.Json;
using DistRnn.Coordinator.Checkpoints;

namespace DistRnn.Coordinator.Output;

/// <summary>
/// The training and validation loss of a run, step by step, as the plot draws them. Seeded from an existing
/// metrics.jsonl so a resumed run's plot keeps its history; a step that goes back (a resume from an older
/// checkpoint) drops the points at and after it, so the curve never doubles back on itself.
/// </summary>
public sealed class LossHistory
{
    private readonly List<(long Step, double Loss)> _train = new();
    private readonly List<(long Step, double Loss)> _val = new();

    public IReadOnlyList<(long Step, double Loss)> Train => _train;
    public IReadOnlyList<(long Step, double Loss)> Validation => _val;

    public void Add(long step, double? trainLoss, double? valLoss)
    {
        Truncate(_train, step);
        Truncate(_val, step);
        if (trainLoss is double t && double.IsFinite(t)) _train.Add((step, t));
        if (valLoss is double v && double.IsFinite(v)) _val.Add((step, v));
    }

    private static void Truncate(List<(long Step, double Loss)> points, long step)
    {
        int keep = points.Count;
        while (keep > 0 && points[keep - 1].Step >= step) keep--;
        if (keep < points.Count) points.RemoveRange(keep, points.Count - keep);
    }

    /// <summary>The losses of each readable line of a metrics.jsonl (<see cref="MetricsLog.Read"/>).</summary>
    public static LossHistory FromMetrics(string path)
    {
        var h = new LossHistory();
        foreach (var line in MetricsLog.Read(path)) h.Add(line.Step, line.Loss, line.ValLoss);
        return h;
    }
}

/// <summary>One readable line of metrics.jsonl, with its text as written.</summary>
public sealed record MetricsLine(long Step, double? Loss, double? ValLoss, string Text);

/// <summary>
/// metrics.jsonl as a run reads it back: a line that is not a JSON object with an integer "step" (a line cut
/// short by a crash, or edited by hand) is skipped, as is a loss that is not a number.
/// </summary>
public static class MetricsLog
{
    public static IEnumerable<MetricsLine> Read(string path)
    {
        if (!File.Exists(path)) yield break;
        foreach (var text in File.ReadLines(path))
        {
            if (Parse(text) is MetricsLine line) yield return line;
        }
    }

    private static MetricsLine? Parse(string text)
    {
        if (string.IsNullOrWhiteSpace(text)) return null;
        try
        {
            using var doc = JsonDocument.Parse(text);
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("step", out var s)
                || s.ValueKind != JsonValueKind.Number || !s.TryGetInt64(out long step)) return null;
            return new MetricsLine(step, Number(root, "loss"), Number(root, "val_loss"), text);
        }
        catch (JsonException) { return null; }
    }

    private static double? Number(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble() : null;

    /// <summary>
    /// Before a run appends after <paramref name="step"/>: keeps the readable lines of the timeline that led to
    /// that step, each ending in a newline. Drops a torn last line (the next append would be glued to it),
    /// unreadable lines, lines that a later line's step went back over (as <see cref="LossHistory"/> does), and
    /// the steps after <paramref name="step"/> (logged again now, or an abandoned timeline). Rewritten
    /// atomically, and only when something changes.
    /// </summary>
    public static void KeepUpTo(string path, long step)
    {
        if (!File.Exists(path)) return;
        var timeline = new List<MetricsLine>();
        foreach (var line in Read(path))
        {
            while (timeline.Count > 0 && timeline[^1].Step >= line.Step) timeline.RemoveAt(timeline.Count - 1);
            timeline.Add(line);
        }
        var kept = string.Concat(timeline.Where(l => l.Step <= step).Select(l => l.Text + "\n"));
        if (kept != File.ReadAllText(path)) AtomicFile.WriteText(path, kept);
    }
}
