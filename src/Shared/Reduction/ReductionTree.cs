namespace DistRnn.Reduction;

/// <summary>What became of a value offered to a <see cref="ReductionTree{TValue}"/>.</summary>
public enum ReductionOffer
{
    /// <summary>Stored (and combined with its sibling where that was present).</summary>
    Accepted,
    /// <summary>The node, or a subtree containing it, is already present: first result wins.</summary>
    Duplicate,
    /// <summary>The node is not inside the target subtree.</summary>
    Outside,
}

/// <summary>
/// The fixed-order sum of one target subtree, built from the sums of nodes below it, always combining left + right
/// in the tree's order (never in arrival order), so the result has the same bits whoever computed which part and in
/// which order they arrived. It is the only place sums are put together: a kernel pass's leaves, a worker's pieces
/// and the coordinator's step all go through it, which is why the single-process and the cluster path agree.
/// A recomputed node is bit-identical to the first, so a second copy is a duplicate; a node arriving after some of
/// its descendants replaces them (it is their exact sum). Not thread-safe.
/// </summary>
public sealed class ReductionTree<TValue>
{
    private readonly Dictionary<Subtree, TValue> _done = new();
    private readonly Func<TValue, TValue, TValue> _combine;
    private readonly Action<TValue>? _release;
    private readonly List<Subtree> _replaced = new();

    /// <param name="combine">parent = combine(left, right); may reuse left's storage.</param>
    /// <param name="release">gets each value the tree let go of (a right child once combined, a replaced descendant), for reuse</param>
    public ReductionTree(Subtree target, Func<TValue, TValue, TValue> combine, Action<TValue>? release = null)
    {
        Target = target;
        _combine = combine;
        _release = release;
    }

    public Subtree Target { get; }
    public bool IsComplete => _done.ContainsKey(Target);

    /// <summary>The target's value once <see cref="IsComplete"/>.</summary>
    public TValue Result => _done.TryGetValue(Target, out var v) ? v : throw new InvalidOperationException($"subtree {Target} is not complete");

    /// <summary>Nodes present now (for inspection and tests).</summary>
    public IReadOnlyCollection<Subtree> Present => _done.Keys;

    /// <summary>True when the node or a subtree containing it (up to the target) is present.</summary>
    public bool IsCovered(Subtree node)
    {
        if (!Target.Contains(node)) return false;
        for (var a = node; a.Level <= Target.Level; a = a.Parent)
            if (_done.ContainsKey(a)) return true;
        return false;
    }

    /// <summary>Offers the sum of <paramref name="node"/>; once accepted, the tree owns <paramref name="value"/>.</summary>
    public ReductionOffer Offer(Subtree node, TValue value)
    {
        var verdict = Check(node);
        if (verdict == ReductionOffer.Accepted) Store(node, value);
        return verdict;
    }

    /// <summary>
    /// Offers a value valid only during the call (a kernel's scratch gradient). When <paramref name="node"/> is a right
    /// child whose left sibling is present, it is combined into the sibling straight away, with no copy; otherwise the
    /// tree stores <paramref name="keep"/>(value), a copy it owns. Same result as offering the copy.
    /// </summary>
    public ReductionOffer Offer(Subtree node, TValue borrowed, Func<TValue, TValue> keep)
    {
        var verdict = Check(node);
        if (verdict != ReductionOffer.Accepted) return verdict;
        if (node != Target && (node.Index & 1) == 1 && _done.Remove(node.Sibling, out var left))
        {
            ReplaceDescendants(node);
            Store(node.Parent, _combine(left, borrowed));
        }
        else Store(node, keep(borrowed));
        return ReductionOffer.Accepted;
    }

    /// <summary>The largest pieces of <paramref name="node"/> not yet present, left to right.</summary>
    public List<Subtree> Missing(Subtree node)
    {
        var list = new List<Subtree>();
        CollectMissing(node, list);
        return list;
    }

    private ReductionOffer Check(Subtree node) =>
        !Target.Contains(node) ? ReductionOffer.Outside : IsCovered(node) ? ReductionOffer.Duplicate : ReductionOffer.Accepted;

    /// <summary>Stores a node that is not covered, then combines up the tree while siblings are present.</summary>
    private void Store(Subtree node, TValue value)
    {
        ReplaceDescendants(node);
        while (node != Target && _done.Remove(node.Sibling, out var sibling))
        {
            bool iAmLeft = (node.Index & 1) == 0;
            var (left, right) = iAmLeft ? (value, sibling) : (sibling, value);
            value = _combine(left, right);
            _release?.Invoke(right);
            node = node.Parent;
        }
        _done[node] = value;
    }

    /// <summary>A node is the exact sum of its descendants: drop any that arrived before it.</summary>
    private void ReplaceDescendants(Subtree node)
    {
        if (node.IsLeaf || _done.Count == 0) return;
        foreach (var k in _done.Keys)
            if (node.Contains(k)) _replaced.Add(k);
        foreach (var k in _replaced)
        {
            _done.Remove(k, out var dropped);
            _release?.Invoke(dropped!);
        }
        _replaced.Clear();
    }

    private void CollectMissing(Subtree node, List<Subtree> into)
    {
        if (IsCovered(node)) return;
        if (node.IsLeaf || !AnyInside(node)) { into.Add(node); return; }
        CollectMissing(node.Left, into);
        CollectMissing(node.Right, into);
    }

    private bool AnyInside(Subtree node)
    {
        foreach (var k in _done.Keys)
            if (node.Contains(k)) return true;
        return false;
    }
}
