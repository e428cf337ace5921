namespace DistRnn.Coordinator.Failover;

/// <summary>
/// The active coordinator's view of its standbys, as decisions (the replication actor acts on them): who waits for
/// the run's state, who is attached (had the snapshot and every decision since), and whose acks the step in flight
/// still needs. A step counts as replicated once every attached standby acknowledged it; a standby that is lost or
/// too slow is dropped, never waited for again, so it cannot stall the run.
/// </summary>
public sealed class ReplicaSet<TReplica> where TReplica : notnull
{
    private readonly HashSet<TReplica> _waiting = new();
    private readonly HashSet<TReplica> _attached = new();
    private readonly HashSet<TReplica> _unacked = new();

    /// <summary>The step whose acks are awaited (null: none in flight).</summary>
    public long? InFlight { get; private set; }
    public bool WantsSnapshot => _waiting.Count > 0;
    public int Attached => _attached.Count;

    /// <summary>
    /// A standby asks for the state (it asks again until the snapshot is in: a repeat from one already attached is one
    /// that crossed the snapshot on its way, and changes nothing).
    /// </summary>
    public void Attach(TReplica r)
    {
        if (!_attached.Contains(r)) _waiting.Add(r);
    }

    /// <summary>
    /// A standby that already holds the run up to the steps it is about to be sent resumes: attached at once, with no
    /// snapshot. It is not among the acks the step in flight (if any) needs: its decision is among those it is sent
    /// first, and from the next step on its ack is needed as every attached standby's.
    /// </summary>
    public void Resumed(TReplica r)
    {
        _waiting.Remove(r);
        _attached.Add(r);
    }

    public bool IsAttached(TReplica r) => _attached.Contains(r);

    /// <summary>The snapshot of a completed step was taken: the waiting standbys get it and are attached from here on.</summary>
    public IReadOnlyList<TReplica> SnapshotTaken()
    {
        var to = _waiting.ToList();
        _waiting.Clear();
        _attached.UnionWith(to);
        return to;
    }

    /// <summary>Step <paramref name="step"/> was computed: its decision goes to every attached standby, whose acks it then needs.</summary>
    /// <returns>who to send it to (none: the step is replicated at once)</returns>
    public IReadOnlyList<TReplica> Decided(long step)
    {
        if (InFlight is long s) throw new InvalidOperationException($"step {step} decided while step {s} is not yet replicated");
        if (_attached.Count == 0) return [];
        InFlight = step;
        _unacked.UnionWith(_attached);
        return _attached.ToList();
    }

    /// <returns>true when this ack completes the step in flight</returns>
    public bool Acked(TReplica r, long step)
    {
        if (InFlight != step || !_unacked.Remove(r)) return false;
        return Complete();
    }

    /// <returns>true when dropping it completes the step in flight</returns>
    public bool Lost(TReplica r)
    {
        _waiting.Remove(r);
        bool was = _attached.Remove(r);
        return was && _unacked.Remove(r) && Complete();
    }

    /// <summary>The step in flight waited too long: the standbys that have not acked are dropped.</summary>
    /// <returns>the dropped ones</returns>
    public IReadOnlyList<TReplica> TimedOut()
    {
        var slow = _unacked.ToList();
        foreach (var r in slow) _attached.Remove(r);
        _unacked.Clear();
        InFlight = null;
        return slow;
    }

    private bool Complete()
    {
        if (_unacked.Count > 0) return false;
        InFlight = null;
        return true;
    }
}
