namespace DistRnn.Coordinator.Membership;

/// <summary>A registered worker: the name it gave and the threads it computes on.</summary>
public sealed record WorkerInfo(string Node, int Threads)
{
    public override string ToString() => Node;
}

/// <summary>What the roster decided about a worker that is gone (unreachable, left, removed, stopped, excluded).</summary>
/// <param name="Info">who it was</param>
/// <param name="Remaining">registered workers left</param>
/// <param name="DuringEnd">the run is ending: a worker that leaves now is saying goodbye, not lost</param>
/// <param name="AllLeftAtEnd">the run is ending and this was the last worker: the end can be acknowledged</param>
public sealed record WorkerGone<TWorker>(TWorker Worker, WorkerInfo Info, int Remaining, bool DuringEnd, bool AllLeftAtEnd);

/// <summary>
/// Who takes part in the run, as plain logic (the coordinator actor only turns its decisions into messages):
/// registration and membership, workers that are unreachable for now (kept, so they take part again when they
/// return), workers excluded for a bad result (banned for the rest of the run), the callers waiting for enough
/// workers, and the end of the run. A worker is identified by
/// <typeparamref name="TWorker"/> (an actor ref in the cluster, anything equatable in the tests); its node's
/// address (for cluster events that name a node) and its ban key come from the functions given. Not thread-safe.
/// </summary>
public sealed class WorkerRoster<TWorker, TWaiter> where TWorker : notnull
{
    /// <summary>At most this many bans are kept.</summary>
    public const int MaxBans = 1 << 16; // a machine's address per ban: a few MB at most

    private readonly Func<TWorker, string> _addressOf;
    private readonly Func<TWorker, string> _banKeyOf;
    private readonly Dictionary<TWorker, WorkerInfo> _registered = new();
    private readonly List<TWorker> _order = new();
    private readonly Dictionary<TWorker, WorkerInfo> _unreachable = new();
    private readonly Dictionary<string, string> _bans = new(StringComparer.Ordinal);
    private readonly List<(int Minimum, TWaiter Waiter)> _waiters = new();
    private int _leftAtEnd;

    /// <param name="addressOf">the node a worker lives on (cluster events name nodes, not actors)</param>
    /// <param name="banKeyOf">what an exclusion bans (the node's address)</param>
    public WorkerRoster(Func<TWorker, string> addressOf, Func<TWorker, string> banKeyOf)
    {
        _addressOf = addressOf;
        _banKeyOf = banKeyOf;
    }

    /// <summary>Registered workers, in the order they are given work.</summary>
    public IReadOnlyList<TWorker> Order => _order;
    public int Count => _registered.Count;
    /// <summary>The run is ending: registrations are refused and leaving workers are counted, not lost.</summary>
    public bool Ending { get; private set; }
    public int LeftAtEnd => _leftAtEnd;

    public bool IsRegistered(TWorker worker) => _registered.ContainsKey(worker);

    /// <summary>Registered, or registered and unreachable for now: a result of it is not a stranger's.</summary>
    public bool IsKnown(TWorker worker) => _registered.ContainsKey(worker) || _unreachable.ContainsKey(worker);

    /// <summary>Why the worker may not take part (excluded earlier in this run), or null.</summary>
    public string? BanOf(TWorker worker) => _bans.TryGetValue(_banKeyOf(worker), out var why) ? why : null;

    /// <summary>The worker's name for messages to the user.</summary>
    public string Name(TWorker worker) =>
        _registered.TryGetValue(worker, out var i) ? i.Node : _unreachable.TryGetValue(worker, out var u) ? u.Node : _addressOf(worker);

    /// <summary>Registers a worker that proved itself; false when it already was (the registration is answered again).</summary>
    public bool Add(TWorker worker, WorkerInfo info)
    {
        if (_registered.ContainsKey(worker)) return false;
        _unreachable.Remove(worker);
        _registered[worker] = info;
        _order.Add(worker);
        return true;
    }

    /// <summary>The worker is gone (null when it was not registered; an unreachable one is forgotten then).</summary>
    /// <param name="keepForReturn">unreachable: it takes part again if it becomes reachable (it is still registered on its side)</param>
    public WorkerGone<TWorker>? Lose(TWorker worker, bool keepForReturn = false)
    {
        if (!_registered.Remove(worker, out var info))
        {
            if (!keepForReturn) _unreachable.Remove(worker);
            return null;
        }
        _order.Remove(worker);
        if (keepForReturn) _unreachable[worker] = info;
        if (Ending) _leftAtEnd++;
        return new WorkerGone<TWorker>(worker, info, _registered.Count, Ending, Ending && _registered.Count == 0);
    }

    /// <summary>Every registered worker on the node at <paramref name="address"/> is gone.</summary>
    public List<WorkerGone<TWorker>> LoseNode(string address, bool keepForReturn)
    {
        var gone = new List<WorkerGone<TWorker>>();
        foreach (var w in _registered.Keys.Where(w => _addressOf(w) == address).ToList())
            if (Lose(w, keepForReturn) is { } g) gone.Add(g);
        return gone;
    }

    /// <summary>The node left the cluster for good: its unreachable workers will not return.</summary>
    public void ForgetNode(string address)
    {
        foreach (var w in _unreachable.Keys.Where(w => _addressOf(w) == address).ToList()) _unreachable.Remove(w);
    }

    /// <summary>The node is reachable again: its workers that were unreachable take part again (not during the end, not when banned).</summary>
    public List<(TWorker Worker, WorkerInfo Info)> NodeReturned(string address)
    {
        var back = new List<(TWorker, WorkerInfo)>();
        foreach (var (w, info) in _unreachable.Where(kv => _addressOf(kv.Key) == address).ToList())
        {
            _unreachable.Remove(w);
            if (Ending || BanOf(w) is not null) continue;
            _registered[w] = info;
            _order.Add(w);
            back.Add((w, info));
        }
        return back;
    }

    /// <summary>
    /// A result came from the worker. One dropped as unreachable (and kept for its return) is back at once: what it
    /// sends reaches this node, whatever the cluster's merged view still says — after a healed partition another
    /// node's stale observation can keep a healthy worker "unreachable" for seconds. Null when it was not kept for
    /// its return (registered, removed, unknown), during the end, or when banned.
    /// </summary>
    public (TWorker Worker, WorkerInfo Info)? Heard(TWorker worker)
    {
        if (Ending || BanOf(worker) is not null || !_unreachable.Remove(worker, out var info)) return null;
        _registered[worker] = info;
        _order.Add(worker);
        return (worker, info);
    }

    /// <summary>Bans the worker's node for the rest of the run and drops it (what it already delivered stays valid).</summary>
    public WorkerGone<TWorker>? Exclude(TWorker worker, string reason)
    {
        if (_bans.Count < MaxBans) _bans[_banKeyOf(worker)] = reason;
        return Lose(worker);
    }

    /// <summary>Someone waits until at least <paramref name="minimum"/> workers are registered.</summary>
    public void Await(int minimum, TWaiter waiter) => _waiters.Add((minimum, waiter));

    /// <summary>The waiters whose minimum is met now (removed from the list), to be answered with <see cref="Count"/>.</summary>
    public List<TWaiter> ReadyWaiters()
    {
        var ready = new List<TWaiter>();
        for (int i = _waiters.Count - 1; i >= 0; i--)
        {
            if (_registered.Count < _waiters[i].Minimum) continue;
            ready.Add(_waiters[i].Waiter);
            _waiters.RemoveAt(i);
        }
        return ready;
    }

    /// <summary>The run ends: from now on workers that go are counted as having left.</summary>
    public void BeginEnd()
    {
        Ending = true;
        _leftAtEnd = 0;
    }
}
