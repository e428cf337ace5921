namespace DistRnn.Reduction;

/// <summary>
/// The one way work is cut into aligned subtrees of the fixed tree: among workers (<see cref="Split"/>: balanced
/// contiguous runs of leaves, each as the fewest aligned subtrees, so a worker returns few sums and does an equal
/// share of the kernel work) and among a machine's threads (<see cref="Pieces"/>: the largest halved until there
/// are enough). Cutting never changes bits: the pieces are summed back in the tree's order.
/// </summary>
public static class SubtreeCutter
{
    /// <summary>
    /// Splits the leaves of <paramref name="nodes"/> (taken left to right in the given order) into at most
    /// <paramref name="parts"/> non-empty parts; part i goes to the i-th worker.
    /// </summary>
    public static List<List<Subtree>> Split(IReadOnlyList<Subtree> nodes, int parts)
    {
        if (parts <= 0) throw new ArgumentOutOfRangeException(nameof(parts), "need at least one part");
        var leaves = new List<int>();
        foreach (var n in nodes)
            for (int i = 0; i < n.Count; i++) leaves.Add(n.First + i);
        var result = new List<List<Subtree>>();
        int total = leaves.Count;
        int used = Math.Min(parts, total);
        for (int p = 0; p < used; p++)
        {
            int from = (int)((long)p * total / used), to = (int)((long)(p + 1) * total / used);
            result.Add(Aligned(leaves, from, to));
        }
        return result;
    }

    /// <summary>The fewest aligned subtrees covering leaves[from..to) (consecutive runs are merged where aligned).</summary>
    public static List<Subtree> Aligned(IReadOnlyList<int> leaves, int from, int to)
    {
        var nodes = new List<Subtree>();
        int i = from;
        while (i < to)
        {
            // the run of consecutive shard indices starting at i
            int runEnd = i + 1;
            while (runEnd < to && leaves[runEnd] == leaves[runEnd - 1] + 1) runEnd++;
            int a = leaves[i], b = leaves[runEnd - 1] + 1;
            while (a < b)
            {
                int level = 0;
                while ((a & ((2 << level) - 1)) == 0 && a + (2 << level) <= b) level++;
                nodes.Add(new Subtree(level, a >> level));
                a += 1 << level;
            }
            i = runEnd;
        }
        return nodes;
    }

    public static int LeafCount(IEnumerable<Subtree> nodes) => nodes.Sum(n => n.Count);

    /// <summary>
    /// Cuts <paramref name="nodes"/> into at least <paramref name="minimum"/> aligned pieces (halving the largest, the
    /// leftmost of equal ones, leaves staying whole), left to right; Owner is the index of the node a piece belongs to.
    /// </summary>
    public static List<(Subtree Piece, int Owner)> Pieces(IReadOnlyList<Subtree> nodes, int minimum)
    {
        var pieces = new List<(Subtree Piece, int Owner)>(Math.Max(minimum, nodes.Count));
        for (int i = 0; i < nodes.Count; i++) pieces.Add((nodes[i], i));
        while (pieces.Count < minimum)
        {
            int largest = -1;
            for (int i = 0; i < pieces.Count; i++)
                if (!pieces[i].Piece.IsLeaf && (largest < 0 || pieces[i].Piece.Level > pieces[largest].Piece.Level)) largest = i;
            if (largest < 0) break;
            var (piece, owner) = pieces[largest];
            pieces[largest] = (piece.Left, owner);
            pieces.Insert(largest + 1, (piece.Right, owner));
        }
        return pieces;
    }
}
