using DistRnn.Reduction;

namespace DistRnn.Tests.Reduction;

/// <summary>How the tree data plane cuts a model into chunks: a pure function of its size, within the bounds, covering every value once.</summary>
public sealed class ChunkLayoutTests
{
    [Theory]
    [InlineData(99_137, 4, ChunkLayout.MinChunkBytes, 7)]      // hidden 256, float32: 396,548 bytes / 8 is below the minimum
    [InlineData(1_182_785, 4, ChunkLayout.MaxChunkBytes, 10)]  // hidden 1024, float32: 4.7 MB / 8 is above the maximum
    [InlineData(1_182_785, 8, ChunkLayout.MaxChunkBytes, 19)]
    [InlineData(300_000, 4, 150_000, 8)]                       // in between: an eighth of the model
    [InlineData(10, 8, ChunkLayout.MinChunkBytes, 1)]
    public void A_chunk_is_an_eighth_of_the_model_within_the_bounds(int values, int bytesPerValue, int chunkBytes, int chunks)
    {
        Assert.Equal(chunkBytes, ChunkLayout.ChunkBytesFor((long)values * bytesPerValue));
        var layout = ChunkLayout.For(values, bytesPerValue);
        Assert.Equal(chunks, layout.Count);
        Assert.True((long)layout.Size * bytesPerValue <= ChunkLayout.MaxChunkBytes);
        int covered = 0;
        for (int k = 0; k < layout.Count; k++)
        {
            Assert.Equal(covered, layout.Start(k));
            Assert.True(layout.Valid(k, layout.Length(k)));
            covered += layout.Length(k);
        }
        Assert.Equal(values, covered);
        Assert.False(layout.Valid(layout.Count, 1));
    }
}
