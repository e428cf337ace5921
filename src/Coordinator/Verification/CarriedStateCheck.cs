using System.Numerics;

namespace DistRnn.Coordinator.Verification;

/// <summary>
/// The check a worker's final states pass (--state carry) before the next step starts from them: every value is an
/// output of σ, so finite and in [−1, 1] (tanh) or [0, 1] (sigmoid). A state inside that range cannot be told from an
/// honest one without recomputing the sequence; like a finite gradient, it is taken as sent (docs/security.md).
/// </summary>
public static class CarriedStateCheck
{
    /// <summary>Why the states cannot be σ's outputs, or null.</summary>
    public static string? Problem<T>(ReadOnlySpan<T> states) where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int i = 0; i < states.Length; i++)
            if (!T.IsFinite(states[i]) || T.Abs(states[i]) > T.One)
                return $"final state value {i} is {states[i]}, not an output of the activation (finite, |s| ≤ 1)";
        return null;
    }
}
