using System.Numerics;
using DistRnn.Model;

namespace DistRnn.Coordinator.Inference;

/// <summary>One time step of the model for inference (sampling, completion): no gradients, one sequence.</summary>
public static class RnnCell
{
    /// <summary>
    /// s_t = σ(x_t U + s_{t−1} W + b) for the one-hot input x (d values); for a gated or stacked model, every layer's
    /// step (<see cref="CellStep{T}.Infer"/>: a state of <see cref="ModelShape.StateSize"/> values).
    /// </summary>
    public static void Step<T>(Tensors<T> p, Activation act, int x, ReadOnlySpan<T> sPrev, Span<T> s) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!p.Shape.IsElman) { CellStep<T>.Infer(p, act, x, sPrev, s); return; }
        int d = p.Shape.D;
        var U = p.U; var W = p.W; var b = p.B;
        for (int j = 0; j < d; j++) s[j] = U[x * d + j] + b[j];
        for (int i = 0; i < d; i++)
        {
            T si = sPrev[i];
            var row = W.Slice(i * d, d);
            for (int j = 0; j < d; j++) s[j] += si * row[j];
        }
        for (int j = 0; j < d; j++) s[j] = act.Apply(s[j]);
    }

    /// <summary>z_t = s_t V + c as doubles, scaled by 1/temperature (k values); s_t the top layer's h (<see cref="CellStep{T}.Top"/>).</summary>
    public static void Logits<T>(Tensors<T> p, ReadOnlySpan<T> state, Span<double> z, double temperature = 1) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int d = p.Shape.D, k = p.Shape.K;
        var s = CellStep<T>.Top(p.Shape, state);
        var V = p.V; var c = p.C;
        for (int i = 0; i < k; i++) z[i] = double.CreateTruncating(c[i]);
        for (int j = 0; j < d; j++)
        {
            double sj = double.CreateTruncating(s[j]);
            var row = V.Slice(j * k, k);
            for (int i = 0; i < k; i++) z[i] += sj * double.CreateTruncating(row[i]);
        }
        if (temperature != 1) for (int i = 0; i < k; i++) z[i] /= temperature;
    }

    /// <summary>In place: logits → log-probabilities (log-softmax).</summary>
    public static void LogSoftmax(Span<double> z)
    {
        double max = double.NegativeInfinity;
        foreach (var v in z) max = Math.Max(max, v);
        double sum = 0;
        foreach (var v in z) sum += DetMath.Exp(v - max);
        double lse = max + Math.Log(sum);
        for (int i = 0; i < z.Length; i++) z[i] -= lse;
    }
}
