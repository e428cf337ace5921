using System.Numerics;
using DistRnn.Model.Fast;

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

    /// <summary>
    /// Lays <paramref name="p"/> out once for several <see cref="Run{TSink}"/> passes on any threads (into
    /// <paramref name="into"/> when given); null for a kernel that reads the parameters as they are.
    /// </summary>
    PackedParams<T>? Pack(Tensors<T> p, bool gradients, PackedParams<T>? into = null);

    /// <summary>
    /// Several shards in one call: shard j is seqs[bounds[j] .. bounds[j+1]). <paramref name="sink"/> gets each
    /// shard's gradient (computed from zero; null without <paramref name="gradients"/>) and summed loss, in shard
    /// order, with the same bits as <see cref="Accumulate"/> on that shard alone. <paramref name="packed"/> is what
    /// <see cref="Pack"/> returned for these parameters. <paramref name="carry"/> (<c>--state carry</c>): each sequence's
    /// s_0, held fixed, and where its final state goes; default: every sequence from s_0 = 0.
    /// </summary>
    void Run<TSink>(Tensors<T> p, Activation act, ReadOnlySpan<int> tokens, ReadOnlySpan<SequenceRef> seqs,
        ReadOnlySpan<int> bounds, bool gradients, ref TSink sink, PackedParams<T>? packed = null, CarriedState<T> carry = default) where TSink : struct, IShardSink<T>;
}

/// <summary>Receives each shard's result from <see cref="IShardKernel{T}.Run{TSink}"/>, in shard order.</summary>
public interface IShardSink<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <param name="grad">the shard's gradient (null for loss only); a scratch buffer, valid only during the call</param>
    void OnShard(int shard, Tensors<T>? grad, double loss, long chars);
}

