using System.Text.Json;

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

    /// <summary>Reads the step, loss and val_loss of each line of a metrics.jsonl; unreadable lines (a torn last write) are skipped.</summary>
    public static LossHistory FromMetrics(string path)
    {
        var h = new LossHistory();
        if (!File.Exists(path)) return h;
        foreach (var line in File.ReadLines(path))
        {
            if (string.IsNullOrWhiteSpace(line)) continue;
            try
            {
                using var doc = JsonDocument.Parse(line);
                var root = doc.RootElement;
                if (!root.TryGetProperty("step", out var s) || !s.TryGetInt64(out long step)) continue;
                h.Add(step, Number(root, "loss"), Number(root, "val_loss"));
            }
            catch (JsonException) { /* a line cut short by a crash: the rest of the file still counts */ }
        }
        return h;
    }

    private static double? Number(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble() : null;
}
