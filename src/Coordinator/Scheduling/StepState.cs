using DistRnn.Reduction;

namespace DistRnn.Coordinator.Scheduling;

/// <summary>What became of a result offered to <see cref="StepState{TWorker,TValue}"/>.</summary>
public enum ResultVerdict
{
    /// <summary>Stored; the step may now be complete.</summary>
    Accepted,
    /// <summary>That part of the tree is already present (a late or backup copy): ignored.</summary>
    Duplicate,
    /// <summary>For another step (or another run): ignored.</summary>
    Stale,
    /// <summary>Not a node of this step's tree: ignored (and worth a warning).</summary>
    Invalid,
}

/// <summary>Work to send: these subtrees of the current step to this worker.</summary>
public sealed record Assignment<TWorker>(TWorker Worker, IReadOnlyList<Subtree> Nodes)
{
    public override string ToString() => $"{Worker}: {string.Join(" ", Nodes)}";
}

/// <summary>
/// The state machine of one synchronous step on the coordinator, free of actors and time: which subtrees
/// are out to which worker, which are waiting for a worker, what to hand out when a worker is lost or late,
/// and which results to keep. Any result for a still-missing node is kept whoever sends it (a recomputed
/// subtree has the same bits); everything else is reported as duplicate, stale or invalid and dropped.
/// The sums themselves are combined by a <see cref="ReductionTree{TValue}"/> in the fixed tree order.
/// </summary>
public sealed class StepState<TWorker, TValue> where TWorker : notnull
{
    private readonly ReductionTree<TValue> _tree;
    private readonly List<TWorker> _live = new();
    private readonly Dictionary<TWorker, List<Subtree>> _assigned = new();
    private readonly List<Subtree> _unassigned = new();

    public StepState(long step, Subtree root, Func<TValue, TValue, TValue> combine)
    {
        Step = step;
        _tree = new ReductionTree<TValue>(root, combine);
    }

    public long Step { get; }
    public Subtree Root => _tree.Target;
    public bool IsComplete => _tree.IsComplete;
    public TValue Result => _tree.Result;

    /// <summary>Workers taking part now, in the order they are given work.</summary>
    public IReadOnlyList<TWorker> Live => _live;

    /// <summary>Parts of the tree that no live worker holds (no worker was left to take them).</summary>
    public IReadOnlyList<Subtree> Unassigned => _unassigned;

    /// <summary>The still-missing pieces of what <paramref name="worker"/> was given.</summary>
    public List<Subtree> Outstanding(TWorker worker) =>
        _assigned.TryGetValue(worker, out var nodes) ? MissingOf(nodes) : new List<Subtree>();

    /// <summary>
    /// What each live worker holds now, in the order they were given work. Disjoint as long as nothing was handed out
    /// twice (the tree data plane hands out work only on <see cref="Start"/>, <see cref="WorkerLost"/> and
    /// <see cref="WorkerJoined"/>); together with <see cref="Unassigned"/> they cover the root.
    /// </summary>
    public List<Assignment<TWorker>> Holdings() =>
        _live.Where(w => _assigned.TryGetValue(w, out var nodes) && nodes.Count > 0)
             .Select(w => new Assignment<TWorker>(w, _assigned[w].ToList())).ToList();

    /// <summary>Splits the whole tree over <paramref name="workers"/> (none: everything waits unassigned).</summary>
    public List<Assignment<TWorker>> Start(IEnumerable<TWorker> workers)
    {
        if (_live.Count > 0 || _assigned.Count > 0) throw new InvalidOperationException($"step {Step} already started");
        foreach (var w in workers)
            if (!_live.Contains(w)) _live.Add(w);
        return Distribute(new List<Subtree> { Root }, _live);
    }

    /// <summary>Should a result for this node be decoded at all? (Cheap pre-check before the payload is read.)</summary>
    public ResultVerdict Check(long step, Subtree node)
    {
        if (step != Step) return ResultVerdict.Stale;
        if (!Root.Contains(node)) return ResultVerdict.Invalid;
        return _tree.IsCovered(node) ? ResultVerdict.Duplicate : ResultVerdict.Accepted;
    }

    public ResultVerdict Offer(long step, Subtree node, TValue value)
    {
        var check = Check(step, node);
        if (check != ResultVerdict.Accepted) return check;
        _tree.Offer(node, value);
        _unassigned.RemoveAll(_tree.IsCovered);
        return ResultVerdict.Accepted;
    }

    /// <summary>
    /// The worker is gone (unreachable, removed, left, or stopped): its missing pieces that nobody else
    /// holds go to the live workers with the least outstanding work, or wait unassigned if none is left.
    /// Its results, should they still arrive, are accepted like anyone's.
    /// </summary>
    public List<Assignment<TWorker>> WorkerLost(TWorker worker)
    {
        if (!_live.Remove(worker)) return new();
        var pieces = Outstanding(worker);
        _assigned.Remove(worker);
        pieces.RemoveAll(HeldByLiveWorker);
        if (IsComplete || pieces.Count == 0) return new();
        return Distribute(pieces, ByLoad(_live));
    }

    /// <summary>A worker (new or back) takes part from now on; it gets whatever waits unassigned.</summary>
    public List<Assignment<TWorker>> WorkerJoined(TWorker worker)
    {
        if (_live.Contains(worker)) return new();
        _live.Add(worker);
        if (IsComplete || _unassigned.Count == 0) return new();
        var waiting = MissingOf(_unassigned);
        _unassigned.Clear();
        return Distribute(waiting, new List<TWorker> { worker });
    }

    /// <summary>
    /// The step's deadline passed: every missing piece is handed out again (backup tasks) — to other live
    /// workers when there are any, else to its holder once more (in case a message was lost). Whichever copy
    /// arrives first is kept. Work that waits unassigned goes to the live workers.
    /// </summary>
    public List<Assignment<TWorker>> DeadlinePassed()
    {
        var result = new List<Assignment<TWorker>>();
        if (IsComplete || _live.Count == 0) return result;
        if (_unassigned.Count > 0)
        {
            var waiting = MissingOf(_unassigned);
            _unassigned.Clear();
            result.AddRange(Distribute(waiting, ByLoad(_live)));
        }
        foreach (var w in _live.ToList())
        {
            var late = Outstanding(w);
            if (late.Count == 0) continue;
            var others = ByLoad(_live.Where(o => !EqualityComparer<TWorker>.Default.Equals(o, w)));
            if (others.Count == 0) result.Add(new Assignment<TWorker>(w, late));
            else result.AddRange(Distribute(late, others));
        }
        return Merge(result);
    }

    /// <summary>
    /// A sign of trouble with the worker (its data channel broke, its connection was reset) short of losing it: its
    /// missing pieces are handed to the other live workers at once as well — a recomputed subtree has the same bits
    /// and the first copy wins, so nothing is lost by not waiting to find out whether it is dead. With no other
    /// worker they go to it again (over whatever path still works). It stays live and may still deliver.
    /// </summary>
    public List<Assignment<TWorker>> Suspected(TWorker worker)
    {
        if (IsComplete || !_live.Contains(worker)) return new();
        var owed = Outstanding(worker);
        if (owed.Count == 0) return new();
        var others = ByLoad(_live.Where(o => !EqualityComparer<TWorker>.Default.Equals(o, worker)));
        return others.Count == 0 ? [new Assignment<TWorker>(worker, owed)] : Distribute(owed, others);
    }

    /// <summary>Live workers with nothing of theirs missing: they may take backup tasks.</summary>
    public List<TWorker> Idle() => _live.Where(w => Outstanding(w).Count == 0).ToList();

    /// <summary>
    /// Backup tasks for stragglers (see <see cref="BackupPolicy"/>): every missing piece that only one live worker
    /// holds is handed, split, to the idle workers as well. Whichever copy arrives first is kept — a recomputed
    /// subtree has the same bits — and a piece held twice already is not handed out a third time.
    /// </summary>
    public List<Assignment<TWorker>> Backups()
    {
        if (IsComplete) return new();
        var idle = Idle();
        if (idle.Count == 0) return new();
        var pieces = new List<Subtree>();
        foreach (var w in _live)
        {
            if (idle.Contains(w)) continue;
            foreach (var piece in Outstanding(w))
                if (!HeldByOthers(piece, w) && !pieces.Contains(piece)) pieces.Add(piece);
        }
        return Distribute(pieces, idle);
    }

    /// <summary>Every shard of the piece is also given to some live worker other than <paramref name="owner"/>.</summary>
    private bool HeldByOthers(Subtree piece, TWorker owner)
    {
        for (int shard = piece.First; shard < piece.First + piece.Count; shard++)
        {
            var leaf = new Subtree(0, shard);
            if (!_live.Any(w => !EqualityComparer<TWorker>.Default.Equals(w, owner) && _assigned.TryGetValue(w, out var nodes) && nodes.Any(n => n.Contains(leaf))))
                return false;
        }
        return true;
    }

    private List<Assignment<TWorker>> Distribute(List<Subtree> pieces, IReadOnlyList<TWorker> workers)
    {
        var result = new List<Assignment<TWorker>>();
        if (pieces.Count == 0) return result;
        if (workers.Count == 0) { _unassigned.AddRange(pieces); return result; }
        var parts = SubtreeCutter.Split(pieces, workers.Count);
        for (int i = 0; i < parts.Count; i++)
        {
            var w = workers[i];
            if (!_assigned.TryGetValue(w, out var list)) _assigned[w] = list = new List<Subtree>();
            list.AddRange(parts[i]);
            result.Add(new Assignment<TWorker>(w, parts[i]));
        }
        return result;
    }

    private List<Subtree> MissingOf(IEnumerable<Subtree> nodes)
    {
        var seen = new HashSet<Subtree>();
        var missing = new List<Subtree>();
        foreach (var n in nodes)
            foreach (var m in _tree.Missing(n))
                if (seen.Add(m)) missing.Add(m);
        // a piece inside another listed piece is already counted
        missing.RemoveAll(m => missing.Any(o => o != m && o.Contains(m)));
        return missing;
    }

    private bool HeldByLiveWorker(Subtree piece) =>
        _live.Any(w => _assigned.TryGetValue(w, out var nodes) && nodes.Any(n => n.Contains(piece)));

    /// <summary>Workers ordered by outstanding shards, least first (stable: ties keep their order).</summary>
    private List<TWorker> ByLoad(IEnumerable<TWorker> workers) =>
        workers.Select((w, i) => (w, i, load: SubtreeCutter.LeafCount(Outstanding(w))))
               .OrderBy(t => t.load).ThenBy(t => t.i).Select(t => t.w).ToList();

    private static List<Assignment<TWorker>> Merge(List<Assignment<TWorker>> list) =>
        list.GroupBy(a => a.Worker)
            .Select(g => new Assignment<TWorker>(g.Key, g.SelectMany(a => a.Nodes).ToList()))
            .ToList();
}
