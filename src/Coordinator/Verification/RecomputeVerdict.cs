using System.Numerics;
using System.Runtime.InteropServices;
using DistRnn.Reduction;

namespace DistRnn.Coordinator.Verification;

/// <summary>
/// What a suspect piece's recomputation on the coordinator (<see cref="SubtreeVerifier{T}"/>) proves about its sender.
/// Plain logic: the step actor asks, and excludes a liar.
/// </summary>
public static class RecomputeVerdict
{
    /// <summary>
    /// Loss agreement allowed between two honest hosts: the loss uses Math.Log, the platform's, whose last bits may differ
    /// between hosts (it is only reported, never fed to the parameters). Those differences stay below (chars + 8)·2⁻⁵¹
    /// relative plus 2⁻⁵⁰·(ln k + 1) per character; a millionth of each is far above that and far below a forgery that
    /// could matter (a piece's loss per character is bounded anyway, <see cref="LossBound"/>).
    /// </summary>
    private const double LossTolerance = 1e-6;

    /// <summary>True when a sum holds NaN or ±∞ anywhere (gradient or loss).</summary>
    public static bool IsNonFinite<T>(ShardSum<T> sum) where T : unmanaged, IFloatingPointIeee754<T> =>
        !double.IsFinite(sum.Loss) || !sum.Grad.AllFinite();

    /// <summary>
    /// The sender lied when what it sent differs from the same subtree recomputed here: one finite and the other not,
    /// or, both finite, another character count, any gradient bit, or a loss beyond <see cref="LossTolerance"/>. Both
    /// non-finite is a divergence, honest (NaN payloads are not compared).
    /// </summary>
    public static bool SenderLied<T>(ShardSum<T> sent, ShardSum<T> recomputed) where T : unmanaged, IFloatingPointIeee754<T>
    {
        bool sentFinite = !IsNonFinite(sent), hereFinite = !IsNonFinite(recomputed);
        if (!sentFinite || !hereFinite) return sentFinite != hereFinite;
        if (sent.Chars != recomputed.Chars) return true;
        if (Math.Abs(sent.Loss - recomputed.Loss) > LossTolerance * (Math.Abs(sent.Loss) + Math.Abs(recomputed.Loss) + sent.Chars)) return true;
        return !MemoryMarshal.AsBytes(sent.Grad.Data.AsSpan()).SequenceEqual(MemoryMarshal.AsBytes(recomputed.Grad.Data.AsSpan()));
    }
}
