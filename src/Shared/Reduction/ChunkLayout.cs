namespace DistRnn.Reduction;

/// <summary>
/// How the tree data plane cuts a flat tensor (U,W,V,b,c) into chunks that travel, and are summed, one by one: chunk k
/// holds values [k·Size, min((k+1)·Size, Values)). The sum is elementwise, so adding chunk by chunk in the tree's order
/// gives the same bits as adding whole tensors; a node's chunk leaves as soon as it is complete (pipelining).
/// </summary>
public readonly record struct ChunkLayout(int Values, int Size)
{
    /// <summary>
    /// Bytes of one chunk: about a <see cref="TargetChunks"/>-th of the model, within [<see cref="MinChunkBytes"/>,
    /// <see cref="MaxChunkBytes"/>]: enough chunks that a level of the tree forwards one while the next arrives (a model
    /// of 2 chunks barely pipelines), few enough that the per-message work stays small on busy cores (measured in
    /// docs/data-plane.md, "Chunk size"). At most 512 KiB, so a chunk fits the smallest Akka frame (1 MiB) whatever the model.
    /// </summary>
    public const int MinChunkBytes = 64 * 1024, MaxChunkBytes = 512 * 1024, TargetChunks = 8;

    /// <summary>The layout every node of a run uses for a model of <paramref name="values"/> values of <paramref name="bytesPerValue"/> bytes (a pure function of both: the same on every node).</summary>
    public static ChunkLayout For(int values, int bytesPerValue) => new(values, Math.Max(1, ChunkBytesFor((long)values * bytesPerValue) / bytesPerValue));

    /// <summary>The chunk size for a model of <paramref name="modelBytes"/> bytes.</summary>
    public static int ChunkBytesFor(long modelBytes) => (int)Math.Clamp((modelBytes + TargetChunks - 1) / TargetChunks, MinChunkBytes, MaxChunkBytes);

    public int Count => Values == 0 ? 0 : (Values + Size - 1) / Size;
    public int Start(int chunk) => chunk * Size;
    public int Length(int chunk) => Math.Min(Size, Values - chunk * Size);
    public bool Valid(int chunk, int length) => chunk >= 0 && chunk < Count && length == Length(chunk);

    /// <summary>Chunk <paramref name="chunk"/> of <paramref name="values"/>, as a new array.</summary>
    public T[] Slice<T>(ReadOnlySpan<T> values, int chunk) => values.Slice(Start(chunk), Length(chunk)).ToArray();
}
