namespace DistRnn.Model;

/// <summary>
/// Sizes of the Elman RNN and where each tensor lives in the one flat parameter vector.
/// Layout (row-major, the order of params_sha256): U (k×d), W (d×d), V (d×k), b (d), c (k).
/// The input is one-hot over the vocabulary, so n = k.
/// </summary>
public sealed record ModelShape(int VocabSize, int Hidden)
{
    public int K => VocabSize;
    public int D => Hidden;

    public int UOffset => 0;
    public int WOffset => K * D;
    public int VOffset => WOffset + D * D;
    public int BOffset => VOffset + D * K;
    public int COffset => BOffset + D;
    public int Count => COffset + K;

    public void Validate()
    {
        if (VocabSize < 2) throw new ArgumentException($"vocabulary size must be at least 2, got {VocabSize}");
        if (Hidden < 1) throw new ArgumentException($"hidden size must be positive, got {Hidden}");
        if ((long)K * D * 2 + (long)D * D + D + K > int.MaxValue / 2)
            throw new ArgumentException($"model too large: hidden {Hidden} × vocabulary {VocabSize}");
    }
}
