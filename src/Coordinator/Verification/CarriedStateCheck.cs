using System.Numerics;
using DistRnn.Data;
using DistRnn.Model;

namespace DistRnn.Coordinator.Verification;

/// <summary>
/// The check a worker's final states pass (--state carry) before the next step starts from them, per sequence in the
/// layout of <see cref="ModelShape.StateSize"/>. Every h is finite and in [−1, 1]: an output of σ (rnn), o ⊙ tanh(c)
/// (lstm), or a convex mix of tanh's n and the previous h (gru; allowed 1e-3 over 1 for rounding). lstm's c is finite
/// and grows by less than 1 a step (c_t = f ⊙ c_{t−1} + i ⊙ g with f, |i ⊙ g| ≤ 1): |c_T| ≤ (|c_0| + T)·1.001 for a
/// sequence of T steps from the c_0 it was sent. A state inside those bounds cannot be told from an honest one without
/// recomputing the sequence; like a finite gradient, it is taken as sent (docs/security.md).
/// </summary>
public static class CarriedStateCheck
{
    /// <summary>Why <paramref name="final"/> cannot be the final states of <paramref name="seqs"/> from <paramref name="initial"/>, or null.</summary>
    public static string? Problem<T>(ModelShape shape, ReadOnlySpan<SequenceRef> seqs, ReadOnlySpan<T> initial, ReadOnlySpan<T> final)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int n = shape.StateSize, h = shape.Layers * shape.D;
        double hMax = shape.Cell == Cell.Gru ? 1.001 : 1;
        for (int s = 0; s < seqs.Length; s++)
            for (int j = 0; j < n; j++)
            {
                int i = s * n + j;
                double v = double.CreateTruncating(final[i]);
                if (!double.IsFinite(v)) return $"final state value {i} is {final[i]}, not finite";
                if (j < h && Math.Abs(v) > hMax)
                    return $"final state value {i} is {final[i]}, not a recurrent output h (|h| ≤ 1)";
                double cMax = (Math.Abs(double.CreateTruncating(initial[i])) + seqs[s].Length) * 1.001;
                if (j >= h && Math.Abs(v) > cMax)
                    return $"final state value {i} is {final[i]}, beyond what an lstm's c reaches in {seqs[s].Length} steps from {initial[i]} (|c_T| ≤ |c_0| + T)";
            }
        return null;
    }
}
