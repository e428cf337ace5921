namespace DistRnn.Coordinator.Failover;

/// <summary>
/// The recent decisions of a coordinator that took the run over, kept for the standbys that followed the lost
/// coordinator alongside it, so that each can resume with this one where it stopped (docs/failover.md) instead of
/// asking for the state again. When the lost coordinator went, one standby may hold a step's decision that another
/// did not get yet (the active sends each decision to all of them and waits for all their acks), and a standby's
/// resume may arrive after this node has already computed steps of its own: this keeps the last decision it took as a
/// standby and every one it computes since, up to <c>maxBytes</c> (the oldest go first), until <see cref="Stop"/>.
/// </summary>
public sealed class DecisionHistory<TDecision>(long maxBytes) where TDecision : class
{
    private readonly LinkedList<(long Step, TDecision Decision, long Bytes)> _kept = new();
    private long _bytes;

    /// <summary>The last step this node knows the decision of (taken from another coordinator or computed); -1: none.</summary>
    public long Latest { get; private set; } = -1;

    /// <summary>Whether decisions are kept now (between <see cref="Start"/> and <see cref="Stop"/>).</summary>
    public bool Keeping { get; private set; }

    /// <summary>This node holds the run from the step after <paramref name="completed"/>; <paramref name="last"/>: that step's decision, when it took it from the coordinator that is gone.</summary>
    public void Start(long completed, TDecision? last, long lastBytes)
    {
        Keeping = true;
        _kept.Clear();
        _bytes = 0;
        Latest = completed;
        if (last is not null) Keep(completed, last, lastBytes);
    }

    /// <summary>Every standby that could resume did (or is gone): nothing is kept from now on.</summary>
    public void Stop()
    {
        Keeping = false;
        _kept.Clear();
        _bytes = 0;
    }

    /// <summary>This node decided step <paramref name="step"/> (the one after <see cref="Latest"/>).</summary>
    /// <remarks>A step out of order (not expected: the loop decides each step once, in order) starts the history over at it.</remarks>
    public void Add(long step, TDecision decision, long bytes)
    {
        if (Latest >= 0 && step != Latest + 1)
        {
            _kept.Clear();
            _bytes = 0;
        }
        Latest = step;
        if (Keeping) Keep(step, decision, bytes);
    }

    private void Keep(long step, TDecision decision, long bytes)
    {
        _kept.AddLast((step, decision, bytes));
        _bytes += bytes;
        while (_bytes > maxBytes && _kept.Count > 1)
        {
            _bytes -= _kept.First!.Value.Bytes;
            _kept.RemoveFirst();
        }
    }

    /// <summary>
    /// What a standby that holds the decisions up to step <paramref name="heldThrough"/> needs to follow this node:
    /// the decisions after it that this node has (none when it is level, or one step ahead: it then gets that step
    /// again as it is computed), or why it cannot (this node no longer keeps the first it lacks).
    /// </summary>
    public (IReadOnlyList<TDecision> Send, string? Refusal) After(long heldThrough)
    {
        if (heldThrough > Latest + 1)
            return ([], $"it holds step {heldThrough}, and this coordinator has decided only up to step {Latest}");
        if (heldThrough >= Latest) return ([], null);
        long first = _kept.Count == 0 ? Latest + 1 : _kept.First!.Value.Step;
        if (first > heldThrough + 1)
            return ([], _kept.Count == 0
                ? $"this coordinator does not keep the decisions of steps {heldThrough + 1}–{Latest}"
                : $"this coordinator keeps the decisions from step {first} on only, and the standby needs them from step {heldThrough + 1}");
        return (_kept.Where(k => k.Step > heldThrough).Select(k => k.Decision).ToList(), null);
    }
}
