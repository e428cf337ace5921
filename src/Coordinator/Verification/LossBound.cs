using System.Numerics;
using DistRnn.Model;

namespace DistRnn.Coordinator.Verification;

/// <summary>
/// The most loss an honest subtree can report with a step's parameters: a piece whose Σloss exceeds it for its Σchars
/// is a lie, refused without recomputing anything.
/// <para>
/// Why not −log of the smallest positive y (103.3 nats in float32, 744.4 in float64)? Because no kernel here computes
/// −log of a rounded y: every one (<see cref="Softmax.FromLogits{T}"/>, FastKernel's softmax row) takes the loss of a
/// character as ℓ = (log Ŝ + m) − z_c in double, with Ŝ = Σ_i exp(z_i − m) and m = max_i z_i, straight from the logits
/// z = s V + c. A confident wrong guess with large V honestly costs more than 745 nats, so that bound is not sound.
/// What bounds ℓ is the parameters:
/// </para>
/// <list type="bullet">
/// <item>log Ŝ ≤ ln k + 1: each of the k exponentials is of a number ≤ 0, so at most 1; exp, the sum and log err by a
/// few ulps, far less than the factor e the "+ 1" allows.</item>
/// <item>|z_i| ≤ Z_i = |c_i| + Σ_j |V_ji| since |s_j| ≤ 1 (tanh and sigmoid; DetMath's never leave [−1, 1]); the computed
/// dot product of d + 1 terms in T, in any order and with or without FMA (zero padding adds exactly), is within
/// γ_{d+1}(u_T)·Z_i of the exact one (Higham, Accuracy and Stability of Numerical Algorithms, §3.1), where
/// γ_n(u) = n·u / (1 − n·u) and u_T is T's unit roundoff (2⁻²⁴ float32, 2⁻⁵³ float64). So m − z_c ≤ 2·max_i |z_i|,
/// and the two roundings of ℓ itself are within γ_2(u₆₄).</item>
/// <item>A piece's loss is a sum of its characters' ℓ in double (kernel, then the reduction tree): within γ_chars(u₆₄).</item>
/// </list>
/// Gated and stacked models (docs/cells.md): the output layer reads the top layer's h, |h_j| ≤ 1 for every cell (lstm:
/// σ(o)·tanh(c); gru: a convex combination of tanh(·) and h_{t−1}), within a few roundings, and dropout scales it by
/// 1/(1 − p): so Σ_j |V_ji| is scaled by h_max = (1/(1 − p))·(1 + 4·u_T) there (1 for today's model).
/// Hence Σloss ≤ chars·(ln k + 1 + 2·Z)·(1 + γ_{d+1}(u_T))·(1 + γ_{chars+8}(u₆₄)), Z = max_i Z_i; computing Z here in
/// double (d + 1 terms) errs by γ_{d+1}(u₆₄), one more factor; the "+ 8" covers the roundings of ℓ, of ln k + 1 + 2·Z
/// and of the products in <see cref="Max"/>. Computed once per step, O(d·k).
/// </summary>
public readonly record struct LossBound
{
    private static readonly double U64 = Math.ScaleB(1.0, -53);

    /// <summary>ln k + 1 + 2·Z: the most one character can cost, before the rounding factors.</summary>
    public double PerChar { get; }
    private readonly double _factor; // (1 + γ_{d+1}(u_T))·(1 + γ_{d+1}(u₆₄)); γ_{chars+8}(u₆₄) depends on the piece

    private LossBound(double perChar, double factor) { PerChar = perChar; _factor = factor; }

    /// <param name="dropout">the run's dropout p (training passes scale the top layer's h by 1/(1 − p))</param>
    public static LossBound For<T>(Tensors<T> p, double dropout = 0) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int d = p.Shape.D, k = p.Shape.K;
        double uT = double.CreateTruncating(T.One - T.BitDecrement(T.One)); // 1 − (1 − u) = u, exactly
        double hMax = p.Shape.IsElman && dropout == 0 ? 1 : 1 / (1 - dropout) * (1 + 4 * uT);
        ReadOnlySpan<T> v = p.V, c = p.C; // V: d×k row-major, c: k
        var zi = new double[k];             // Z_i, summed row by row (any order: the γ bound holds for all)
        for (int i = 0; i < k; i++) zi[i] = Math.Abs(double.CreateTruncating(c[i]));
        var vi = new double[k];             // Σ_j |V_ji|
        for (int j = 0; j < d; j++)
        {
            var row = v.Slice(j * k, k);
            for (int i = 0; i < k; i++) vi[i] += Math.Abs(double.CreateTruncating(row[i]));
        }
        double z = 0;
        for (int i = 0; i < k; i++) z = Math.Max(z, zi[i] + hMax * vi[i]);
        return new LossBound(Math.Log(k) + 1 + 2 * z, (1 + Gamma(d + 1, uT)) * (1 + Gamma(d + 1, U64)));
    }

    /// <summary>The most loss <paramref name="chars"/> predicted characters can honestly sum to (+∞ when no bound holds).</summary>
    public double Max(long chars) => PerChar * chars * _factor * (1 + Gamma(chars + 8, U64));

    /// <summary>γ_n(u) = n·u / (1 − n·u), the relative error bound of n roundings; +∞ once n·u ≥ 1 (no bound).</summary>
    private static double Gamma(long n, double u) => n * u < 1 ? n * u / (1 - n * u) : double.PositiveInfinity;
}
