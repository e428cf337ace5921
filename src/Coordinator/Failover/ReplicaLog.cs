namespace DistRnn.Coordinator.Failover;

/// <summary>What a standby does with a message of the replication stream.</summary>
public enum StreamVerdict { Take, Stale, Gap }

/// <summary>
/// A standby's side of the stream, as decisions: after the snapshot of step s the decisions must come for s+1, s+2, …
/// in order (a repeat of a step already received is stale; a skipped step means the stream broke, and the standby no
/// longer holds the run's state). It holds the decisions the training loop has not yet asked for — one while the
/// active waits for each ack, several when a coordinator that took the run over sends the ones this standby missed — and the loop takes them in order with <see cref="Take"/>.
/// </summary>
public sealed class ReplicaLog<TDecision> where TDecision : class
{
    private readonly Queue<TDecision> _held = new();

    public ReplicaLog(long snapshotStep) => Received = snapshotStep;

    /// <summary>The last step whose decision arrived.</summary>
    public long Received { get; private set; }

    /// <summary>The step of the oldest decision not yet taken (Received + 1 when none is held).</summary>
    private long FirstHeld => Received - _held.Count + 1;

    public StreamVerdict Offer(long step, TDecision d)
    {
        if (step <= Received) return StreamVerdict.Stale;
        if (step != Received + 1) return StreamVerdict.Gap;
        Received = step;
        _held.Enqueue(d);
        return StreamVerdict.Take;
    }

    /// <summary>The decision for <paramref name="step"/> when it is here (the loop asks in order), else null.</summary>
    public TDecision? Take(long step)
    {
        if (_held.Count == 0 || step != FirstHeld) return null;
        return _held.Dequeue();
    }
}

/// <summary>Puts the parts of a snapshot together (they come in order over one association; anything else starts it over).</summary>
public sealed class SnapshotAssembly
{
    private readonly List<byte[]> _parts = new();
    private (string Run, long Step, int Count)? _of;

    /// <returns>the whole checkpoint's bytes once the last part is in, else null</returns>
    public byte[]? Add(string run, long step, int index, int count, byte[] bytes)
    {
        if (index == 0 || _of != (run, step, count)) { _parts.Clear(); _of = (run, step, count); }
        if (count < 1 || index != _parts.Count) { _parts.Clear(); _of = null; return null; }
        _parts.Add(bytes);
        if (_parts.Count < count) return null;
        var all = new byte[_parts.Sum(p => (long)p.Length)];
        int at = 0;
        foreach (var p in _parts) { p.CopyTo(all, at); at += p.Length; }
        _parts.Clear();
        _of = null;
        return all;
    }
}
