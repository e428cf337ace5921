namespace DistRnn.Reduction;

/// <summary>
/// A node of the fixed binary reduction tree over the step's shards: level L, index i covers shards
/// [i·2^L, (i+1)·2^L). The root of S = 2^m shards is (m, 0); leaves are (0, j).
/// </summary>
public readonly record struct Subtree(int Level, int Index)
{
    public int First => Index << Level;
    public int Count => 1 << Level;
    public bool IsLeaf => Level == 0;
    public Subtree Left => new(Level - 1, Index * 2);
    public Subtree Right => new(Level - 1, Index * 2 + 1);
    public Subtree Parent => new(Level + 1, Index >> 1);
    public Subtree Sibling => new(Level, Index ^ 1);

    public static Subtree Root(int shardCount) => new(ShardPlan.Log2(shardCount), 0);

    public bool Contains(Subtree other) =>
        other.Level <= Level && (other.Index >> (Level - other.Level)) == Index;

    public override string ToString() => $"L{Level}#{Index}";
}
