using System.Numerics;
using DistRnn.Compute;
using DistRnn.Model;

namespace DistRnn.Coordinator.Explain;

/// <summary>The parameter whose gradient `explain` takes apart: W (d×d), U (k×d) or b (d).</summary>
public enum ExplainParam { W, U, B }

public static class ExplainParamExtensions
{
    public static string Name(this ExplainParam p) => p switch { ExplainParam.W => "W", ExplainParam.U => "U", _ => "b" };

    public static bool TryParse(string? text, out ExplainParam param)
    {
        switch (text?.Trim())
        {
            case "W" or "w": param = ExplainParam.W; return true;
            case "U" or "u": param = ExplainParam.U; return true;
            case "b" or "B": param = ExplainParam.B; return true;
            default: param = ExplainParam.W; return false;
        }
    }
}

/// <summary>
/// Everything `explain` reports for one text (T steps) and one parameter θ; row t−1 of the triangular arrays
/// holds the values for k = 1..t. Pure data: the command prints it, the plots draw it, the tests check it.
/// </summary>
public sealed record PathReport(
    ExplainParam Param,
    Activation Activation,
    int T,
    int Hidden,
    int[] Tokens,                  // T + 1 ids: inputs Tokens[0..T−1], targets Tokens[1..T]
    double[][] ContributionNorms,  // ‖C[t][k]‖_F
    double[] ExplicitNorms,        // ‖C[t][t]‖_F
    double[] ImplicitNorms,        // ‖Σ_{k<t} C[t][k]‖_F
    double[][] JacobianSpectral,   // ‖∂s_t/∂s_k‖_2 (power iteration)
    double[][] JacobianFrobenius,  // ‖∂s_t/∂s_k‖_F
    double[] Gradient,             // ∂L/∂θ = Σ_t Σ_k C[t][k], θ's shape, row-major
    double GradientNorm,           // ‖∂L/∂θ‖_F
    double ExplicitShare,          // ‖Σ_t C[t][t]‖_F / ‖∂L/∂θ‖_F
    double ImplicitShare,          // ‖Σ_t Σ_{k<t} C[t][k]‖_F / ‖∂L/∂θ‖_F
    IReadOnlyList<PathShare> LongPathShares)
{
    /// <summary>Mean of log₁₀ of <paramref name="values"/>[t−1][k−1] over the pairs with t − k = Δ, for Δ = 0..T−1 (zeros skipped; NaN where none is left).</summary>
    public static double[] MeanLog10ByDistance(double[][] values)
    {
        int T = values.Length;
        var sum = new double[T]; var count = new int[T];
        for (int t = 1; t <= T; t++)
            for (int k = 1; k <= t; k++)
            {
                double v = values[t - 1][k - 1];
                if (v > 0 && double.IsFinite(v)) { sum[t - k] += Math.Log10(v); count[t - k]++; }
            }
        return sum.Select((s, i) => count[i] > 0 ? s / count[i] : double.NaN).ToArray();
    }

    /// <summary>
    /// The smallest distance Δ ≥ 1 at which contributions have fallen below <paramref name="ratio"/> of the explicit
    /// term: the geometric mean over t of ‖C[t][t−Δ]‖ / ‖C[t][t]‖ (pairs with a zero norm skipped). Null when no distance does.
    /// </summary>
    public int? DistanceBelow(double ratio)
    {
        for (int delta = 1; delta < T; delta++)
        {
            double sum = 0; int n = 0;
            for (int t = delta + 1; t <= T; t++)
            {
                double e = ExplicitNorms[t - 1], c = ContributionNorms[t - 1][t - delta - 1];
                if (e > 0 && c > 0) { sum += Math.Log10(c / e); n++; }
            }
            if (n > 0 && sum / n < Math.Log10(ratio)) return delta;
        }
        return null;
    }

    /// <summary>The largest ‖∂s_t/∂s_k‖_2 over t &gt; k, and where (0, 0, 0 when T = 1).</summary>
    public (double Norm, int T, int K) LargestJacobian()
    {
        (double Norm, int T, int K) best = (0, 0, 0);
        for (int t = 2; t <= T; t++)
            for (int k = 1; k < t; k++)
                if (JacobianSpectral[t - 1][k - 1] > best.Norm) best = (JacobianSpectral[t - 1][k - 1], t, k);
        return best;
    }
}

/// <summary>‖Σ C[t][k]‖_F over the paths with t − k ≥ MinSteps, as a share of ‖∂L/∂θ‖_F.</summary>
public sealed record PathShare(int MinSteps, double Share);

/// <summary>
/// Backpropagation through time taken apart path by path (the lecture's derivation), in float64, row vectors:
///
///   a_t = x_t U + s_{t−1} W + b,   s_t = σ(a_t),   z_t = s_t V + c,   y_t = softmax(z_t),   L_t = −log y_t[c_t]
///   ∂L_t/∂θ = ∂L_t/∂s_t · Σ_{k=1..t} (∂s_t/∂s_k)(∂⁺s_k/∂θ) = Σ_k C[t][k]
///
/// ∂⁺s_k/∂θ treats s_{k−1} as a constant. With g_t = ∂L_t/∂s_t = (y_t − onehot(c_t)) Vᵀ (d) the error that L_t
/// causes at step k's pre-activation is δ_t^{(t)} = g_t ⊙ σ'(a_t), δ_k^{(t)} = (δ_{k+1}^{(t)} Wᵀ) ⊙ σ'(a_k) (d), so
///
///   C[t][k] = s_{k−1}ᵀ δ_k^{(t)} for W (d×d, rank one: ‖·‖_F = ‖s_{k−1}‖ ‖δ_k^{(t)}‖),
///             x_kᵀ δ_k^{(t)} for U (k×d, one non-zero row), δ_k^{(t)} for b (d).
///
/// ∂s_t/∂s_k (d×d, acting as δs_k ↦ δs_k · J) = Π_{j=k+1..t} W diag(σ'(a_j)), the identity for k = t.
/// Summing C over k for a fixed t is BPTT with L_t alone as the loss; summing over t and k is the full gradient.
/// </summary>
public static class PathContributions
{
    /// <summary>Distances at which the long-path shares are reported (t − k ≥ n).</summary>
    public static readonly int[] ShareDistances = [1, 5, 10, 20];

    /// <summary>The longest text analysed (the triangular arrays and the JSON grow as T²).</summary>
    public const int MaxSteps = 1000;

    /// <summary>
    /// The most multiply-adds the Jacobians may cost: T²/2 pairs, each one step of the product (d³) and three
    /// products for its spectral norm (3d³), so ≈ 2·T²·d³; the limit is about half a minute on one core.
    /// </summary>
    public const double MaxJacobianWork = 1.5e11;

    /// <summary>Null when T steps of a hidden-d model fit the limits, else the reason (for one exit-2 line).</summary>
    public static string? SizeProblem(int T, int d)
    {
        if (T > MaxSteps) return $"{T} steps is too long to explain (at most {MaxSteps} characters after the first)";
        double work = 2.0 * T * T * d * d * d;
        if (work > MaxJacobianWork)
        {
            int maxT = (int)Math.Floor(Math.Sqrt(MaxJacobianWork / (2.0 * d * d * d)));
            return $"{T} steps of a hidden-{d} model is too long to explain: the Jacobians and their norms would cost about 2·T²·d³ = {work:0.#e0} multiply-adds (limit {MaxJacobianWork:0.#e0}; at most {maxT} steps for hidden {d})";
        }
        return null;
    }

    /// <summary>Size of θ: W d×d, U k×d, b d.</summary>
    public static int ParamSize(ModelShape shape, ExplainParam param) => param switch
    {
        ExplainParam.W => shape.D * shape.D,
        ExplainParam.U => shape.K * shape.D,
        _ => shape.D,
    };

    /// <summary>The forward pass: s_t (row t, s_0 = 0), σ'(a_t) (row t) and g_t = ∂L_t/∂s_t (row t), all (T+1)×d.</summary>
    internal sealed class Trajectory
    {
        public required int T, D;
        public required double[] S, Deriv, G;
        public ReadOnlySpan<double> Row(double[] m, int t) => m.AsSpan(t * D, D);
    }

    internal static Trajectory Forward(Tensors<double> p, Activation act, ReadOnlySpan<int> tokens)
    {
        int d = p.Shape.D, k = p.Shape.K, T = tokens.Length - 1;
        var U = p.U; var W = p.W; var V = p.V; var b = p.B; var c = p.C;
        var s = new double[(T + 1) * d];
        var deriv = new double[(T + 1) * d];
        var g = new double[(T + 1) * d];
        var y = new double[k];
        for (int t = 1; t <= T; t++)
        {
            int x = tokens[t - 1], target = tokens[t];
            var sPrev = s.AsSpan((t - 1) * d, d);
            var sT = s.AsSpan(t * d, d);
            for (int j = 0; j < d; j++)
            {
                double a = U[x * d + j] + b[j];
                for (int i = 0; i < d; i++) a += sPrev[i] * W[i * d + j];
                sT[j] = act.Apply(a);
                deriv[t * d + j] = act.DerivativeFromOutput(sT[j]);
            }
            Softmax.FromState<double>(sT, V, c, y, target);
            y[target] -= 1; // ∂L_t/∂z_t = y_t − onehot(c_t)
            for (int j = 0; j < d; j++)
            {
                double acc = 0;
                for (int i = 0; i < k; i++) acc += V[j * k + i] * y[i];
                g[t * d + j] = acc;
            }
        }
        return new Trajectory { T = T, D = d, S = s, Deriv = deriv, G = g };
    }

    /// <summary>δ_k^{(t)} for k = t down to 1, written into rows k of <paramref name="delta"/> ((T+1)×d).</summary>
    private static void Errors(Trajectory tr, ReadOnlySpan<double> W, int t, double[] delta)
    {
        int d = tr.D;
        for (int j = 0; j < d; j++) delta[t * d + j] = tr.G[t * d + j] * tr.Deriv[t * d + j];
        for (int k = t - 1; k >= 1; k--)
        {
            var next = delta.AsSpan((k + 1) * d, d);
            for (int i = 0; i < d; i++)
            {
                double acc = 0;
                var row = W.Slice(i * d, d);
                for (int j = 0; j < d; j++) acc += row[j] * next[j]; // (δ_{k+1} Wᵀ)_i
                delta[k * d + i] = acc * tr.Deriv[k * d + i];
            }
        }
    }

    /// <summary>acc += C[t][k] = ∂⁺s_k/∂θ applied to δ_k^{(t)} (θ-shaped).</summary>
    private static void AddTerm(Span<double> acc, ExplainParam param, Trajectory tr, int[] tokens, int k, ReadOnlySpan<double> delta)
    {
        int d = tr.D;
        switch (param)
        {
            case ExplainParam.W:
                var sPrev = tr.Row(tr.S, k - 1);
                for (int i = 0; i < d; i++)
                {
                    double si = sPrev[i];
                    if (si == 0) continue;
                    var row = acc.Slice(i * d, d);
                    for (int j = 0; j < d; j++) row[j] += si * delta[j];
                }
                break;
            case ExplainParam.U:
                var urow = acc.Slice(tokens[k - 1] * d, d);
                for (int j = 0; j < d; j++) urow[j] += delta[j];
                break;
            default:
                for (int j = 0; j < d; j++) acc[j] += delta[j];
                break;
        }
    }

    private static double Norm(ReadOnlySpan<double> v)
    {
        double s = 0;
        foreach (var x in v) s += x * x;
        return Math.Sqrt(s);
    }

    /// <summary>The t terms C[t][1..t] of ∂L_t/∂θ, each θ-shaped (row-major), for 1 ≤ t ≤ T.</summary>
    public static double[][] Terms(Tensors<double> p, Activation act, int[] tokens, ExplainParam param, int t)
    {
        var tr = Forward(p, act, tokens);
        if (t < 1 || t > tr.T) throw new ArgumentOutOfRangeException(nameof(t));
        var delta = new double[(tr.T + 1) * tr.D];
        Errors(tr, p.W, t, delta);
        var terms = new double[t][];
        for (int k = 1; k <= t; k++)
        {
            terms[k - 1] = new double[ParamSize(p.Shape, param)];
            AddTerm(terms[k - 1], param, tr, tokens, k, delta.AsSpan(k * tr.D, tr.D));
        }
        return terms;
    }

    /// <summary>∂s_t/∂s_k (d×d row-major, δs_t = δs_k · J) for 1 ≤ k ≤ t ≤ T.</summary>
    public static double[] Jacobian(Tensors<double> p, Activation act, int[] tokens, int k, int t)
    {
        var tr = Forward(p, act, tokens);
        if (k < 1 || k > t || t > tr.T) throw new ArgumentOutOfRangeException(nameof(k));
        int d = tr.D;
        var J = Identity(d); var next = new double[d * d];
        for (int j = k + 1; j <= t; j++) { StepJacobian(J, p.W, tr.Row(tr.Deriv, j), next, d); (J, next) = (next, J); }
        return J;
    }

    private static double[] Identity(int d)
    {
        var I = new double[d * d];
        for (int i = 0; i < d; i++) I[i * d + i] = 1;
        return I;
    }

    /// <summary>next = J · W · diag(σ'(a_j)): one more step of ∂s_j/∂s_k. O(d³).</summary>
    private static void StepJacobian(ReadOnlySpan<double> J, ReadOnlySpan<double> W, ReadOnlySpan<double> deriv, Span<double> next, int d)
    {
        MatMul(J, W, next, d);
        for (int i = 0; i < d; i++)
        {
            var row = next.Slice(i * d, d);
            for (int j = 0; j < d; j++) row[j] *= deriv[j];
        }
    }

    /// <summary>
    /// C = A · B (d×d, row-major). Each element is summed over l in index order (blocks of columns held in
    /// registers), so its bits do not depend on the vector width.
    /// </summary>
    private static void MatMul(ReadOnlySpan<double> A, ReadOnlySpan<double> B, Span<double> C, int d)
    {
        int vw = Vector<double>.Count, block = 4 * vw;
        ref double b0 = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(B);
        for (int i = 0; i < d; i++)
        {
            var aRow = A.Slice(i * d, d);
            var outRow = C.Slice(i * d, d);
            int j = 0;
            for (; j + block <= d; j += block)
            {
                Vector<double> a0 = Vector<double>.Zero, a1 = a0, a2 = a0, a3 = a0;
                for (int l = 0; l < d; l++)
                {
                    var x = new Vector<double>(aRow[l]);
                    nuint o = (nuint)(l * d + j);
                    a0 += x * Vector.LoadUnsafe(ref b0, o);
                    a1 += x * Vector.LoadUnsafe(ref b0, o + (nuint)vw);
                    a2 += x * Vector.LoadUnsafe(ref b0, o + (nuint)(2 * vw));
                    a3 += x * Vector.LoadUnsafe(ref b0, o + (nuint)(3 * vw));
                }
                a0.CopyTo(outRow.Slice(j)); a1.CopyTo(outRow.Slice(j + vw)); a2.CopyTo(outRow.Slice(j + 2 * vw)); a3.CopyTo(outRow.Slice(j + 3 * vw));
            }
            for (; j < d; j++)
            {
                double acc = 0;
                for (int l = 0; l < d; l++) acc += aRow[l] * B[l * d + j];
                outRow[j] = acc;
            }
        }
    }

    /// <summary>Scratch space of <see cref="SpectralNorm"/>: three d×d matrices and two d-vectors.</summary>
    internal sealed class PowerScratch(int d)
    {
        public readonly double[] M1 = new double[d * d], M2 = new double[d * d], M3 = new double[d * d];
        public readonly double[] V1 = new double[d], V2 = new double[d];
    }

    /// <summary>
    /// ‖J‖_2 by power iteration, on G⁴ where G = J Jᵀ / ‖J‖_F² (two squarings make each iteration count as eight
    /// on J Jᵀ, so near-equal top singular values still converge), from <paramref name="u"/> (d, unit length;
    /// left as the top left singular vector, to warm-start the next J of the same k). It stops when u moves by
    /// under 1e-12 or after <see cref="MaxPowerIterations"/>; the result is ‖J‖_F √(u G uᵀ) = ‖u J‖, never above ‖J‖_2.
    /// </summary>
    public const int MaxPowerIterations = 200;

    internal static double SpectralNorm(ReadOnlySpan<double> J, int d, Span<double> u, PowerScratch w)
    {
        double f = Norm(J);
        if (f == 0 || !double.IsFinite(f)) return f;
        var Jt = w.M1; var G = w.M2; var G2 = w.M3;
        double inv = 1 / f;
        for (int i = 0; i < d; i++) for (int j = 0; j < d; j++) Jt[j * d + i] = J[i * d + j] * inv;
        for (int i = 0; i < d; i++) for (int j = 0; j < d; j++) G2[i * d + j] = J[i * d + j] * inv;
        MatMul(G2, Jt, G, d);   // G = (J/f)(J/f)ᵀ
        MatMul(G, G, G2, d);    // G²
        MatMul(G2, G2, Jt, d);  // G⁴ (into the transpose's buffer)
        var G4 = Jt; var v = w.V1;
        for (int it = 0; it < MaxPowerIterations; it++)
        {
            MatVec(G4, u, v, d);
            double n = Norm(v);
            if (n == 0 || !double.IsFinite(n)) break;
            double moved = 0;
            for (int i = 0; i < d; i++) { double x = v[i] / n; moved += (x - u[i]) * (x - u[i]); u[i] = x; }
            if (moved < 1e-24) break;
        }
        MatVec(G, u, v, d);
        double q = 0;
        for (int i = 0; i < d; i++) q += u[i] * v[i];
        return f * Math.Sqrt(Math.Max(q, 0));
    }

    /// <summary>v = u M for a symmetric M (d×d): row i of M times u.</summary>
    private static void MatVec(ReadOnlySpan<double> M, ReadOnlySpan<double> u, Span<double> v, int d)
    {
        for (int i = 0; i < d; i++)
        {
            double acc = 0;
            var row = M.Slice(i * d, d);
            for (int j = 0; j < d; j++) acc += row[j] * u[j];
            v[i] = acc;
        }
    }

    /// <summary>The whole analysis of the text <paramref name="tokens"/> (T + 1 ids) for θ.</summary>
    public static PathReport Compute(Tensors<double> p, Activation act, int[] tokens, ExplainParam param)
    {
        if (tokens.Length < 2) throw new ArgumentException("needs at least two tokens (one input and its target)");
        var tr = Forward(p, act, tokens);
        int T = tr.T, d = tr.D, size = ParamSize(p.Shape, param);

        var contribution = new double[T][];
        var explicitNorms = new double[T];
        var implicitNorms = new double[T];
        // Σ C by distance bucket: [0], [1,5), [5,10), [10,20), [20,∞) — the long-path shares are sums of the upper ones.
        int[] edges = [0, .. ShareDistances];
        var buckets = new double[edges.Length][];
        for (int i = 0; i < buckets.Length; i++) buckets[i] = new double[size];
        var implicitAcc = new double[size];
        var delta = new double[(T + 1) * d];

        for (int t = 1; t <= T; t++)
        {
            Errors(tr, p.W, t, delta);
            contribution[t - 1] = new double[t];
            Array.Clear(implicitAcc);
            for (int k = 1; k <= t; k++)
            {
                var dk = delta.AsSpan(k * d, d);
                double factor = param == ExplainParam.W ? Norm(tr.Row(tr.S, k - 1)) : 1;
                contribution[t - 1][k - 1] = factor * Norm(dk);
                int bucket = edges.Length - 1;
                while (edges[bucket] > t - k) bucket--;
                AddTerm(buckets[bucket], param, tr, tokens, k, dk);
                if (k < t) AddTerm(implicitAcc, param, tr, tokens, k, dk);
            }
            explicitNorms[t - 1] = contribution[t - 1][t - 1];
            implicitNorms[t - 1] = Norm(implicitAcc);
        }

        var gradient = new double[size];
        var implicitTotal = new double[size];
        foreach (var bk in buckets) for (int i = 0; i < size; i++) gradient[i] += bk[i];
        for (int b = 1; b < buckets.Length; b++) for (int i = 0; i < size; i++) implicitTotal[i] += buckets[b][i];
        double gradNorm = Norm(gradient);
        double Share(double n) => gradNorm > 0 ? n / gradNorm : 0;
        var shares = new List<PathShare>();
        for (int s = 1; s < edges.Length; s++)
        {
            var sum = new double[size];
            for (int b = s; b < buckets.Length; b++) for (int i = 0; i < size; i++) sum[i] += buckets[b][i];
            shares.Add(new PathShare(edges[s], Share(Norm(sum))));
        }

        var (spectral, frobenius) = JacobianNorms(tr, p.W);
        return new PathReport(param, act, T, d, tokens.ToArray(), contribution, explicitNorms, implicitNorms, spectral, frobenius,
            gradient, gradNorm, Share(Norm(buckets[0])), Share(Norm(implicitTotal)), shares);
    }

    /// <summary>‖∂s_t/∂s_k‖_2 and ‖·‖_F for every 1 ≤ k ≤ t ≤ T: per k, J grows one factor per step (independent k in parallel).</summary>
    private static (double[][] Spectral, double[][] Frobenius) JacobianNorms(Trajectory tr, ReadOnlySpan<double> Wspan)
    {
        int T = tr.T, d = tr.D;
        var W = Wspan.ToArray();
        var spectral = new double[T][]; var frobenius = new double[T][];
        for (int t = 1; t <= T; t++) { spectral[t - 1] = new double[t]; frobenius[t - 1] = new double[t]; }
        void Column(int k)
        {
            var J = Identity(d); var next = new double[d * d];
            var u = new double[d]; var scratch = new PowerScratch(d);
            for (int i = 0; i < d; i++) u[i] = 1 + 0.5 * Math.Sin(i + 1); // deterministic start, not orthogonal to anything in particular
            double n0 = Norm(u); for (int i = 0; i < d; i++) u[i] /= n0;
            spectral[k - 1][k - 1] = 1;
            frobenius[k - 1][k - 1] = Math.Sqrt(d);
            for (int t = k + 1; t <= T; t++)
            {
                StepJacobian(J, W, tr.Row(tr.Deriv, t), next, d);
                (J, next) = (next, J);
                frobenius[t - 1][k - 1] = Norm(J);
                spectral[t - 1][k - 1] = SpectralNorm(J, d, u, scratch);
            }
        }
        // one column per k, on the project's compute threads (never the thread pool), in any order: each column is its own
        using var crew = new ComputeCrew(Math.Min(Environment.ProcessorCount, T), "distrnn-explain");
        int next = 0;
        crew.Submit(() => crew.Together(_ =>
        {
            for (int k = Interlocked.Increment(ref next); k <= T; k = Interlocked.Increment(ref next)) Column(k);
        })).GetAwaiter().GetResult();
        return (spectral, frobenius);
    }
}
