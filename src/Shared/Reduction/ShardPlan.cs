using DistRnn.Model;

namespace DistRnn.Reduction;

/// <summary>
/// Cuts a step's global batch into a fixed power-of-two number of shards, independent of how many
/// workers exist: shard j always holds the same sequences for a given (seed, step).
/// </summary>
public static class ShardPlan
{
    /// <summary>Default shard count: the largest power of two ≤ min(batch, 16).</summary>
    public static int DefaultShardCount(int batch)
    {
        int s = 1;
        while (s * 2 <= Math.Min(batch, 16)) s *= 2;
        return s;
    }

    public static bool IsPowerOfTwo(int n) => n > 0 && (n & (n - 1)) == 0;

    public static int Log2(int n)
    {
        if (!IsPowerOfTwo(n)) throw new ArgumentException($"shard count must be a power of two, got {n}");
        return System.Numerics.BitOperations.Log2((uint)n);
    }

    /// <summary>The sequences of shard j: batch[j·B/S .. (j+1)·B/S).</summary>
    public static ReadOnlySpan<SequenceRef> Shard(ReadOnlySpan<SequenceRef> batch, int shard, int shardCount)
    {
        int from = (int)((long)shard * batch.Length / shardCount);
        int to = (int)((long)(shard + 1) * batch.Length / shardCount);
        return batch[from..to];
    }
}
