namespace DistRnn.Coordinator.Scheduling;

/// <summary>
/// When to start backup tasks for a straggler (MapReduce's and Spark's speculative execution): once at least
/// half of the workers of a step have delivered their share, a worker still busy after <see cref="Multiplier"/>
/// times their median finishing time is presumed slow, and its outstanding subtrees are also given to the idle
/// workers. The first copy wins; a recomputed subtree has the same bits, so nothing but time changes. The
/// multiplier keeps ordinary jitter from duplicating work; <see cref="MinimumWait"/> keeps steps of a few
/// milliseconds (where a busy machine's scheduling jitter is larger than the work) from it.
/// </summary>
public sealed class BackupPolicy(double multiplier, TimeSpan minimumWait)
{
    public double Multiplier { get; } = multiplier;
    public TimeSpan MinimumWait { get; } = minimumWait;

    public static BackupPolicy Default => new(2.0, TimeSpan.FromMilliseconds(50));

    /// <summary>No backup tasks (measurements and tests of the plain behaviour).</summary>
    public static BackupPolicy Off => new(double.PositiveInfinity, TimeSpan.MaxValue);

    public bool Enabled => double.IsFinite(Multiplier);

    /// <param name="finished">when (since the step began) each worker that is done delivered its last result</param>
    /// <param name="participants">workers taking part in the step</param>
    /// <returns>the time since the step began at which to hand out backups, or null for not yet</returns>
    public TimeSpan? BackupAt(IReadOnlyCollection<TimeSpan> finished, int participants)
    {
        if (!Enabled || finished.Count == 0 || finished.Count < participants - finished.Count) return null;
        var sorted = finished.OrderBy(t => t).ToList();
        var median = sorted[(sorted.Count - 1) / 2];
        var at = TimeSpan.FromTicks((long)(median.Ticks * Multiplier));
        return at > MinimumWait ? at : MinimumWait;
    }
}
