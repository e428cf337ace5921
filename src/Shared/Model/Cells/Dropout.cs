using System.Numerics;
using DistRnn.Util;

namespace DistRnn.Model;

/// <summary>
/// Dropout's masks, from (seed, step, sequence index in the global batch, layer, time) alone, so a shard's bits do not
/// depend on who computes it. <see cref="SequenceKey"/> folds the first three into <see cref="SequenceRef.DropoutKey"/>
/// (<see cref="Data.BatchPlan.ForStep"/> sets it); <see cref="Fill"/> adds layer and time. Inverted dropout: a kept unit
/// is scaled by 1/(1 − p), so nothing changes at evaluation, where no mask applies.
/// </summary>
public static class Dropout
{
    /// <summary>The key of sequence <paramref name="index"/> of step <paramref name="step"/>'s global batch.</summary>
    public static ulong SequenceKey(long seed, long step, int index) =>
        Rng.Mix(Rng.For(seed, Rng.Purpose.Dropout, step).NextUInt64() ^ (ulong)index);

    /// <summary>
    /// The mask m of layer <paramref name="layer"/>'s output (0-based) at time <paramref name="t"/> (1-based): unit j is
    /// kept (m_j = 1/(1 − p)) when the j-th draw u_j ∈ [0, 1) of the generator of (key, layer, t) has u_j ≥ p, else m_j = 0.
    /// </summary>
    public static void Fill<T>(ulong key, int layer, int t, double p, Span<T> mask) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ulong state = Rng.Mix(Rng.Mix(key ^ (ulong)layer) ^ (ulong)t); // the state of new Rng(…), without the object
        T keep = T.CreateTruncating(1.0 / (1.0 - p));
        for (int j = 0; j < mask.Length; j++) mask[j] = Rng.ToDouble(Rng.Next(ref state)) >= p ? keep : T.Zero;
    }
}
