using System.Numerics;

namespace DistRnn.Model;

/// <summary>
/// Forward pass and exact BPTT over a batch of sequences: the unit of work a worker runs for a shard.
/// </summary>
public interface IShardKernel<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>
    /// Adds the summed gradients of Σ_sequences Σ_t −log y_t[c_t] into <paramref name="grad"/>
    /// (which the caller clears) and returns the summed loss. Each sequence starts from s_0 = 0.
    /// </summary>
    double Accumulate(Tensors<T> p, Activation act, ReadOnlySpan<int> tokens, ReadOnlySpan<SequenceRef> seqs, Tensors<T> grad);

    /// <summary>The summed loss alone (no gradient), for evaluation.</summary>
    double Loss(Tensors<T> p, Activation act, ReadOnlySpan<int> tokens, ReadOnlySpan<SequenceRef> seqs);
}
