namespace DistRnn.Reduction;

/// <summary>
/// How the tree data plane cuts a flat tensor (U,W,V,b,c) into chunks that travel, and are summed, one by one: chunk k
/// holds values [k·Size, min((k+1)·Size, Values)). The sum is elementwise, so adding chunk by chunk in the tree's order
/// gives the same bits as adding whole tensors; a node's chunk leaves as soon as it is complete (pipelining).
/// </summary>
public readonly record struct ChunkLayout(int Values, int Size)
{
    /// <summary>Bytes of one chunk: small enough that a chunk moves on while the next is summed, large enough that a message's overhead is small.</summary>
    public const int ChunkBytes = 64 * 1024;

    /// <summary>The layout every node of a run uses for a model of <paramref name="values"/> values of <paramref name="bytesPerValue"/> bytes.</summary>
    public static ChunkLayout For(int values, int bytesPerValue) => new(values, Math.Max(1, ChunkBytes / bytesPerValue));

    public int Count => Values == 0 ? 0 : (Values + Size - 1) / Size;
    public int Start(int chunk) => chunk * Size;
    public int Length(int chunk) => Math.Min(Size, Values - chunk * Size);
    public bool Valid(int chunk, int length) => chunk >= 0 && chunk < Count && length == Length(chunk);

    /// <summary>Chunk <paramref name="chunk"/> of <paramref name="values"/>, as a new array.</summary>
    public T[] Slice<T>(ReadOnlySpan<T> values, int chunk) => values.Slice(Start(chunk), Length(chunk)).ToArray();
}
