
namespace DistRnn.Reduction;

/// <summary>What became of a value offered to a <see cref="TreeAssembler{TValue}"/>.</summary>
public enum AssemblyOffer
{
    /// <summary>Stored (and merged with its sibling where that was present).</summary>
    Accepted,
    /// <summary>The node, or a subtree containing it, is already present: first result wins.</summary>
    Duplicate,
    /// <summary>The node is not inside the target subtree.</summary>
    Outside,
}

/// <summary>
/// Builds the sum of one target subtree from the sums of nodes below it, always combining left + right in
/// the fixed tree order (never in arrival order), so the result has the same bits whoever computed which
/// part and in which order they arrived. A recomputed node is bit-identical to the first, so a second copy
/// is a duplicate; a node arriving after some of its descendants replaces them (it is their exact sum).
/// Not thread-safe. The coordinator uses one for the step's root, a worker one per assigned subtree.
/// </summary>
public sealed class TreeAssembler<TValue>
{
    private readonly Dictionary<Subtree, TValue> _done = new();
    private readonly Func<TValue, TValue, TValue> _combine;

    /// <param name="combine">parent = combine(left, right); may reuse left's storage.</param>
    public TreeAssembler(Subtree target, Func<TValue, TValue, TValue> combine)
    {
        Target = target;
        _combine = combine;
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

    public AssemblyOffer Add(Subtree node, TValue value)
    {
        if (!Target.Contains(node)) return AssemblyOffer.Outside;
        if (IsCovered(node)) return AssemblyOffer.Duplicate;
        if (_done.Count > 0)
        {
            // A node is the exact sum of its descendants: drop any that arrived before it.
            foreach (var inside in _done.Keys.Where(k => node.Contains(k)).ToList()) _done.Remove(inside);
        }
        _done[node] = value;
        while (node != Target && _done.TryGetValue(node.Sibling, out var sibling))
        {
            var mine = _done[node];
            _done.Remove(node);
            _done.Remove(node.Sibling);
            bool iAmLeft = (node.Index & 1) == 0;
            var parent = iAmLeft ? _combine(mine, sibling) : _combine(sibling, mine);
            node = node.Parent;
            _done[node] = parent;
        }
        return AssemblyOffer.Accepted;
    }

    /// <summary>The largest pieces of <paramref name="node"/> not yet present, left to right.</summary>
    public List<Subtree> Missing(Subtree node)
    {
        var list = new List<Subtree>();
        CollectMissing(node, list);
        return list;
    }

    private void CollectMissing(Subtree node, List<Subtree> into)
    {
        if (IsCovered(node)) return;
        if (node.IsLeaf || !_done.Keys.Any(k => node.Contains(k))) { into.Add(node); return; }
        CollectMissing(node.Left, into);
        CollectMissing(node.Right, into);
    }
}
