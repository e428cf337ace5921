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
    /// <summary>Values of one sequence's recurrent state (s_t: d for the Elman RNN): the size of a carried state (<see cref="CarriedState{T}"/>).</summary>
    public int StateSize => D;

    public int UOffset => 0;
    public int WOffset => K * D;
    public int VOffset => WOffset + D * D;
    public int BOffset => VOffset + D * K;
    public int COffset => BOffset + D;
    public int Count => COffset + K;

    /// <summary>
    /// The most parameters a model may have: 2^27 values (1 GiB in float64), so the parameters, their gradient
    /// and the optimiser's moments of the largest model still fit a machine's memory; train's --hidden 8192 limit
    /// stays inside it for vocabularies up to ~4,000 characters.
    /// </summary>
    public const long MaxCount = 1L << 27;

    /// <summary>
    /// Why these sizes cannot be a model (null when they can), computed in checked 64-bit arithmetic before
    /// anything is allocated: a forged size must neither overflow the offsets nor ask for gigabytes.
    /// </summary>
    public string? Problem()
    {
        if (VocabSize < 2) return $"vocabulary size must be at least 2, got {VocabSize}";
        if (Hidden < 1) return $"hidden size must be positive, got {Hidden}";
        long k = K, d = D;
        long count = checked(k * d + d * d + d * k + d + k);
        if (count > MaxCount)
            return $"model too large: hidden {Hidden} with vocabulary {VocabSize} has {count} parameters, more than {MaxCount}";
        return null;
    }

    /// <summary>Throws <see cref="InputException"/> "<paramref name="what"/>: problem" when <see cref="Problem"/> finds one.</summary>
    public void Validate(string what)
    {
        if (Problem() is string problem) throw new InputException($"{what}: {problem}");
    }
}
