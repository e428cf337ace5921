using System.Text.Json;

namespace DistRnn.Tests.MultiProcess;

/// <summary>Reads the coordinator's `train --json` lines: step events, and the closing done event.</summary>
internal static class TrainEvents
{
    public sealed record Step(long Number, int Workers);

    public static JsonElement? Parse(string line)
    {
        if (!line.StartsWith('{')) return null;
        try
        {
            using var doc = JsonDocument.Parse(line);
            return doc.RootElement.Clone();
        }
        catch (JsonException) { return null; }
    }

    public static string? Event(string line) =>
        Parse(line) is { } e && e.TryGetProperty("event", out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    public static Step? StepOf(string line) =>
        Event(line) == "step" && Parse(line) is { } e
            ? new Step(e.GetProperty("step").GetInt64(), e.TryGetProperty("workers", out var w) && w.ValueKind == JsonValueKind.Number ? w.GetInt32() : -1)
            : null;

    /// <summary>A matcher for the coordinator's step event number ≥ <paramref name="step"/>.</summary>
    public static Func<NodeProcess.Line, bool> StepAtLeast(long step) => l => !l.Error && StepOf(l.Text) is { } s && s.Number >= step;

    public static IEnumerable<Step> Steps(NodeProcess p) => p.StdoutLines.Select(StepOf).OfType<Step>();

    /// <summary>params_sha256 of the done event (the run's last stdout line); fails the test when there is none.</summary>
    public static string ParamsSha256(NodeProcess p)
    {
        var done = p.StdoutLines.Where(l => Event(l) == "done").Select(Parse).LastOrDefault();
        Assert.True(done is not null, $"no done event\n{p.Tail()}");
        return done!.Value.GetProperty("params_sha256").GetString()!;
    }

    /// <summary>The step and params_sha256 of the "interrupted" event (Ctrl+C / SIGTERM: checkpoint, then exit 1).</summary>
    public static (long Step, string Sha256) Interrupted(NodeProcess p)
    {
        var e = p.StdoutLines.Where(l => Event(l) == "interrupted").Select(Parse).LastOrDefault();
        Assert.True(e is not null, $"no interrupted event\n{p.Tail()}");
        return (e!.Value.GetProperty("step").GetInt64(), e.Value.GetProperty("params_sha256").GetString()!);
    }
}
