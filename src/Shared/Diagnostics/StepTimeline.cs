using System.Diagnostics;

namespace DistRnn.Diagnostics;

/// <summary>The points a cluster step passes, in order: the training loop asks, the coordinator sends, a worker computes and answers.</summary>
public enum StepPoint
{
    Asked, CoordinatorSent, WorkerReceived, ComputeStarted, ComputeDone, ResultSent, CoordinatorReceived, Answered,
}

/// <summary>
/// Where the time of a cluster step goes (`bench --breakdown`): a timestamp per step and <see cref="StepPoint"/>,
/// and the median time between consecutive points. Off unless a benchmark turns it on, and then a few array writes
/// per step. Process-wide: it sees an in-process cluster (the bench's) whole; with several workers their points
/// overwrite one another, so it describes `--workers 1` exactly and more workers only roughly.
/// </summary>
public static class StepTimeline
{
    private const int MaxSteps = 1 << 16;
    private static readonly int Points = Enum.GetValues<StepPoint>().Length;
    private static long[]? _marks;

    public static bool Enabled => _marks is not null;

    public static void Start() => _marks = new long[MaxSteps * Points];

    public static void Stop() => _marks = null;

    public static void Mark(long step, StepPoint point)
    {
        var marks = _marks;
        if (marks is null || step < 0 || step >= MaxSteps) return;
        marks[step * Points + (int)point] = Stopwatch.GetTimestamp();
    }

    /// <summary>For each pair of consecutive points, the median and 90th percentile (ms) over steps <paramref name="from"/>..<paramref name="to"/> that have both.</summary>
    public static List<(StepPoint From, StepPoint To, double MedianMs, double P90Ms)> Summary(long from, long to)
    {
        var result = new List<(StepPoint, StepPoint, double, double)>();
        var marks = _marks;
        if (marks is null) return result;
        for (int p = 1; p < Points; p++)
        {
            var gaps = new List<double>();
            for (long s = Math.Max(0, from); s <= Math.Min(to, MaxSteps - 1); s++)
            {
                long a = marks[s * Points + p - 1], b = marks[s * Points + p];
                if (a != 0 && b != 0) gaps.Add((b - a) * 1000.0 / Stopwatch.Frequency);
            }
            if (gaps.Count == 0) continue;
            gaps.Sort();
            result.Add(((StepPoint)(p - 1), (StepPoint)p, gaps[gaps.Count / 2], gaps[Math.Min(gaps.Count - 1, (int)(gaps.Count * 0.9))]));
        }
        return result;
    }
}
