namespace DistRnn.Reduction;

/// <summary>
/// Who sends what to whom in one epoch of a step on the tree data plane, as pure logic (the coordinator and every
/// worker build the same plan from the same assignment). The pieces of the assignment (disjoint aligned subtrees that
/// cover the root, per worker) are owned by their workers; a node above them is owned by the owner of its LEFT child,
/// so at every internal node the left side receives the right side's sum (binomial: a worker receives at most one sum
/// per level). A worker's "tops" are the nodes it completes and sends on: the root (to the coordinator) and every right
/// child it owns whose parent another worker owns (to that owner). The parameters travel the other way: the root's owner
/// gets them from the coordinator, every other worker exactly once, from the owner of the parent of its highest top
/// (whose own highest top is higher still, so the flow has no cycle and starts at the root's owner).
/// </summary>
public sealed class RelayPlan<TWorker> where TWorker : notnull
{
    private readonly Dictionary<Subtree, TWorker> _owner = new();
    private readonly Dictionary<TWorker, List<Subtree>> _pieces = new();
    private readonly Dictionary<TWorker, List<Subtree>> _tops = new();
    private readonly Dictionary<TWorker, List<(Subtree Node, TWorker From)>> _receives = new();
    private readonly Dictionary<TWorker, TWorker> _parametersFrom = new();
    private readonly Dictionary<TWorker, List<TWorker>> _parametersTo = new();
    private readonly List<TWorker> _workers = new();

    private RelayPlan(Subtree root, int epoch)
    {
        Root = root;
        Epoch = epoch;
    }

    public Subtree Root { get; }
    /// <summary>Which plan of the step this is: sums of an older epoch are ignored.</summary>
    public int Epoch { get; }
    /// <summary>The workers taking part (those with at least one piece), in the assignment's order.</summary>
    public IReadOnlyList<TWorker> Workers => _workers;
    /// <summary>Sends the root's sum to the coordinator and gets the parameters from it.</summary>
    public TWorker RootOwner => _owner[Root];

    /// <param name="assignment">each worker's pieces: disjoint aligned subtrees of <paramref name="root"/> that together cover it</param>
    /// <exception cref="ArgumentException">the pieces overlap, leave part of the root uncovered, or lie outside it</exception>
    public static RelayPlan<TWorker> For(IEnumerable<(TWorker Worker, IReadOnlyList<Subtree> Pieces)> assignment, Subtree root, int epoch)
    {
        var plan = new RelayPlan<TWorker>(root, epoch);
        var pieceOwner = new Dictionary<Subtree, TWorker>();
        foreach (var (w, pieces) in assignment)
        {
            foreach (var p in pieces)
            {
                if (!root.Contains(p)) throw new ArgumentException($"piece {p} is outside the root {root}");
                if (pieceOwner.Keys.Any(o => o.Contains(p) || p.Contains(o))) throw new ArgumentException($"piece {p} overlaps another piece");
                pieceOwner[p] = w;
                if (!plan._pieces.TryGetValue(w, out var list))
                {
                    plan._pieces[w] = list = new List<Subtree>();
                    plan._workers.Add(w);
                }
                list.Add(p);
            }
        }
        plan.Own(root, pieceOwner);
        plan.AddTop(plan.RootOwner, root);
        plan.PlanParameters();
        return plan;
    }

    /// <summary>The owner of <paramref name="node"/>: its piece's worker, or for a node above the pieces the owner of its left child.</summary>
    public TWorker Owner(Subtree node)
    {
        // a node inside a piece: the first node met on the way up is that piece
        if (Root.Contains(node))
            for (var n = node; n.Level <= Root.Level; n = n.Parent)
                if (_owner.TryGetValue(n, out var w)) return w;
        throw new ArgumentException($"node {node} is not in the plan of root {Root}");
    }

    public IReadOnlyList<Subtree> PiecesOf(TWorker w) => _pieces.TryGetValue(w, out var l) ? l : [];

    /// <summary>The nodes <paramref name="w"/> completes and sends on (left to right by first shard).</summary>
    public IReadOnlyList<Subtree> TopsOf(TWorker w) => _tops.TryGetValue(w, out var l) ? l : [];

    /// <summary>The sums <paramref name="w"/> receives from other workers, and from whom.</summary>
    public IReadOnlyList<(Subtree Node, TWorker From)> ReceivesOf(TWorker w) => _receives.TryGetValue(w, out var l) ? l : [];

    /// <summary>Where a top's sum goes: the owner of its parent; default (with <c>toCoordinator</c>) for the root.</summary>
    public (TWorker? To, bool ToCoordinator) SendTo(Subtree top) => top == Root ? (default, true) : (_owner[top.Parent], false);

    /// <summary>Who sends <paramref name="w"/> the parameters; <c>FromCoordinator</c> for the root's owner.</summary>
    public (TWorker? From, bool FromCoordinator) ParametersFrom(TWorker w) =>
        _parametersFrom.TryGetValue(w, out var from) ? (from, false) : (default, true);

    /// <summary>The workers <paramref name="w"/> forwards the parameters to.</summary>
    public IReadOnlyList<TWorker> ParametersTo(TWorker w) => _parametersTo.TryGetValue(w, out var l) ? l : [];

    /// <summary>Records the owner of every node from <paramref name="node"/> down to the pieces, and the sums that cross between workers.</summary>
    private TWorker Own(Subtree node, Dictionary<Subtree, TWorker> pieceOwner)
    {
        if (pieceOwner.TryGetValue(node, out var w)) { _owner[node] = w; return w; }
        if (node.IsLeaf || !pieceOwner.Keys.Any(node.Contains)) throw new ArgumentException($"node {node} is covered by no piece");
        var left = Own(node.Left, pieceOwner);
        var right = Own(node.Right, pieceOwner);
        _owner[node] = left;
        if (!EqualityComparer<TWorker>.Default.Equals(left, right))
        {
            if (!_receives.TryGetValue(left, out var list)) _receives[left] = list = new();
            list.Add((node.Right, right));
            AddTop(right, node.Right);
        }
        return left;
    }

    private void AddTop(TWorker w, Subtree top)
    {
        if (!_tops.TryGetValue(w, out var list)) _tops[w] = list = new();
        list.Add(top);
        list.Sort((a, b) => a.First.CompareTo(b.First));
    }

    /// <summary>
    /// Who passes the parameters to whom. A worker forwards them first to the receiver below it with the largest subtree
    /// (the highest top; the leftmost of equal ones), whose own forwarding chain is the longest: the broadcast then takes
    /// about depth + fan-out chunk times rather than their product.
    /// </summary>
    private void PlanParameters()
    {
        var highestOf = new Dictionary<TWorker, Subtree>();
        foreach (var w in _workers)
        {
            if (EqualityComparer<TWorker>.Default.Equals(w, RootOwner)) continue;
            // its highest top (the leftmost of equal ones): the owner of that top's parent has a higher one still
            var highest = _tops[w].OrderByDescending(t => t.Level).ThenBy(t => t.First).First();
            highestOf[w] = highest;
            var from = _owner[highest.Parent];
            _parametersFrom[w] = from;
            if (!_parametersTo.TryGetValue(from, out var list)) _parametersTo[from] = list = new();
            list.Add(w);
        }
        foreach (var list in _parametersTo.Values)
            list.Sort((a, b) => highestOf[b].Level != highestOf[a].Level ? highestOf[b].Level.CompareTo(highestOf[a].Level) : highestOf[a].First.CompareTo(highestOf[b].First));
    }
}
