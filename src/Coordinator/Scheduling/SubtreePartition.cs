using DistRnn.Reduction;

namespace DistRnn.Coordinator.Scheduling;

/// <summary>
/// Cuts a set of tree nodes into balanced parts for several workers: the leaves (shards) are split into
/// contiguous runs of near-equal length, and each run is expressed as the fewest aligned subtrees, so a
/// worker returns few sums (each one message) and does an equal share of the kernel work.
/// </summary>
public static class SubtreePartition
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
}
