namespace DistRnn.Coordinator.Scheduling;

/// <summary>
/// How long a step may wait for a worker before its pieces are handed out again. Cluster reachability
/// notices a dead node within seconds; this is the backstop for a node that is reachable but silent or
/// very slow (and for a lost message). It adapts to the observed step time: a few times the recent
/// average, never below <see cref="Minimum"/>; the first step (JIT, cold caches) gets <see cref="First"/>.
/// </summary>
public sealed class DeadlinePolicy(TimeSpan first, TimeSpan minimum, double factor)
{
    private double _averageSeconds = double.NaN;

    public TimeSpan First { get; } = first;
    public TimeSpan Minimum { get; } = minimum;
    public double Factor { get; } = factor;

    public static DeadlinePolicy Default => new(TimeSpan.FromSeconds(60), TimeSpan.FromSeconds(5), 4);

    /// <summary>The deadline for the next step.</summary>
    public TimeSpan Next() => double.IsNaN(_averageSeconds)
        ? First
        : TimeSpan.FromSeconds(Math.Max(Minimum.TotalSeconds, Factor * _averageSeconds));

    /// <summary>A step finished in <paramref name="duration"/> (exponential moving average, weight 1/4).</summary>
    public void Observe(TimeSpan duration)
    {
        double s = duration.TotalSeconds;
        _averageSeconds = double.IsNaN(_averageSeconds) ? s : 0.75 * _averageSeconds + 0.25 * s;
    }

    /// <summary>After a deadline passed without completion: wait longer before the next round of backups.</summary>
    public static TimeSpan Extend(TimeSpan current) => current + current;
}
