using System.Numerics;

namespace DistRnn.Model;

/// <summary>The output layer y_t = softmax(s_t V + c) and its loss, shared by every kernel and by sampling.</summary>
public static class Softmax
{
    /// <summary>
    /// Writes y = softmax(s V + c) into <paramref name="y"/> and returns −log y[target]
    /// (or 0 when target &lt; 0). Exponentials are <see cref="DetMath.Exp"/> so y has the same bits on
    /// every host; the loss uses Math.Log because it is only reported and never feeds the parameters.
    /// </summary>
    public static double FromState<T>(ReadOnlySpan<T> s, ReadOnlySpan<T> V, ReadOnlySpan<T> c, Span<T> y, int target)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int d = s.Length, k = c.Length;
        for (int i = 0; i < k; i++) y[i] = c[i];
        for (int j = 0; j < d; j++)
        {
            T sj = s[j];
            var row = V.Slice(j * k, k);
            for (int i = 0; i < k; i++) y[i] += sj * row[i];
        }
        return FromLogits(y, target);
    }

    /// <summary>In place: logits z → probabilities; returns −log y[target] (0 when target &lt; 0).</summary>
    public static double FromLogits<T>(Span<T> z, int target) where T : unmanaged, IFloatingPointIeee754<T>
    {
        double max = double.NegativeInfinity;
        foreach (var v in z) max = Math.Max(max, double.CreateTruncating(v));
        double sum = 0;
        double zTarget = target >= 0 ? double.CreateTruncating(z[target]) : 0;
        Span<double> e = z.Length <= 512 ? stackalloc double[z.Length] : new double[z.Length];
        for (int i = 0; i < z.Length; i++) { e[i] = DetMath.Exp(double.CreateTruncating(z[i]) - max); sum += e[i]; }
        double inv = 1.0 / sum;
        for (int i = 0; i < z.Length; i++) z[i] = T.CreateTruncating(e[i] * inv);
        return target >= 0 ? Math.Log(sum) + max - zTarget : 0;
    }
}
