using System.Numerics;

namespace DistRnn.Coordinator.Training;

/// <summary>Global-norm clipping as torch.nn.utils.clip_grad_norm_: g ← g·clip/(‖g‖+1e−6) when that factor is below 1.</summary>
public static class GradientClipper
{
    /// <summary>The L2 norm, summed in index order in double so every host gets the same bits.</summary>
    public static double Norm<T>(ReadOnlySpan<T> g) where T : unmanaged, IFloatingPointIeee754<T>
    {
        double sum = 0;
        foreach (var v in g) { double x = double.CreateTruncating(v); sum += x * x; }
        return Math.Sqrt(sum);
    }

    /// <summary>Clips in place; returns the norm before clipping. clip ≤ 0 means off.</summary>
    public static double Clip<T>(Span<T> g, double clip) where T : unmanaged, IFloatingPointIeee754<T>
    {
        double norm = Norm<T>(g);
        if (clip > 0)
        {
            double coef = clip / (norm + 1e-6);
            if (coef < 1)
            {
                T f = T.CreateTruncating(coef);
                for (int i = 0; i < g.Length; i++) g[i] *= f;
            }
        }
        return norm;
    }
}
