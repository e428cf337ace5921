namespace DistRnn.Worker.Node;

/// <summary>What became of a job offered to the <see cref="JobQueue{TJob}"/>.</summary>
/// <param name="Accepted">queued (to run after the jobs before it); false: for an older step, dropped</param>
/// <param name="CancelRunning">the job is for a newer step: whatever runs now is obsolete (its results would be dropped)</param>
/// <param name="Dropped">queued jobs of older steps that will never run (their resources can go back now)</param>
public sealed record JobOffer<TJob>(bool Accepted, bool CancelRunning, IReadOnlyList<TJob> Dropped);

/// <summary>
/// A worker's jobs as plain logic: jobs of one step run one after another in the order they came (a step's
/// reassignments and backups come as further jobs); a job for a newer step makes everything older obsolete; a job
/// for an older step is dropped. The actor runs what <see cref="Next"/> returns and calls <see cref="Done"/>.
/// </summary>
public sealed class JobQueue<TJob>(Func<TJob, long> stepOf)
{
    private readonly Queue<TJob> _queue = new();
    private long _step = -1;

    /// <summary>A job is running (between <see cref="Next"/> and <see cref="Done"/>).</summary>
    public bool Running { get; private set; }

    public JobOffer<TJob> Offer(TJob job)
    {
        long step = stepOf(job);
        if (step < _step) return new(false, false, []);
        var dropped = new List<TJob>();
        bool newer = step > _step;
        if (newer)
        {
            while (_queue.TryDequeue(out var old)) dropped.Add(old);
            _step = step;
        }
        _queue.Enqueue(job);
        return new(true, newer && Running, dropped);
    }

    /// <summary>The next job to run when none is running; default when there is nothing (or one is running).</summary>
    public bool TryNext(out TJob job)
    {
        job = default!;
        if (Running || !_queue.TryDequeue(out job!)) return false;
        Running = true;
        return true;
    }

    /// <summary>The running job ended (completed, failed or cancelled).</summary>
    public void Done() => Running = false;
}
