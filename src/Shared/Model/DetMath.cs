namespace DistRnn.Model;

/// <summary>
/// exp, expm1, tanh and the logistic sigmoid in plain IEEE-754 double arithmetic (no FMA, no C library),
/// so every host computes the same bits. Math.Exp/Math.Tanh call the platform libm and vectorised
/// approximations change code path with the vector width; either would break bit-reproducibility.
/// Accuracy: a few ulps over the range the model uses (tested against Math.* in the unit tests).
/// </summary>
public static class DetMath
{
    internal const double Ln2Hi = 6.93147180369123816490e-01; // upper bits of ln 2, exact in k*Ln2Hi for |k| < 2^11
    internal const double Ln2Lo = 1.90821492927058770002e-10; // ln 2 − Ln2Hi
    internal const double InvLn2 = 1.44269504088896338700e+00;

    // Taylor coefficients 1/n! for n = 2..13; |r| ≤ ln2/2 keeps the truncation below 1e-17 relative.
    internal const double C2 = 1.0 / 2, C3 = 1.0 / 6, C4 = 1.0 / 24, C5 = 1.0 / 120, C6 = 1.0 / 720,
        C7 = 1.0 / 5040, C8 = 1.0 / 40320, C9 = 1.0 / 362880, C10 = 1.0 / 3628800, C11 = 1.0 / 39916800,
        C12 = 1.0 / 479001600, C13 = 1.0 / 6227020800;

    /// <summary>e^r − 1 for |r| ≤ ln2/2, with full relative precision near 0 (the leading r is exact).</summary>
    private static double Expm1Reduced(double r)
    {
        double p = C13;
        p = p * r + C12; p = p * r + C11; p = p * r + C10; p = p * r + C9; p = p * r + C8;
        p = p * r + C7; p = p * r + C6; p = p * r + C5; p = p * r + C4; p = p * r + C3; p = p * r + C2;
        return r + r * r * p;
    }

    /// <summary>Splits x = k·ln2 + r with |r| ≤ ln2/2 (Cody–Waite).</summary>
    private static double Reduce(double x, out int k)
    {
        double kd = Math.Round(x * InvLn2, MidpointRounding.ToEven);
        k = (int)kd;
        return (x - kd * Ln2Hi) - kd * Ln2Lo;
    }

    private static double Pow2(int k) => BitConverter.Int64BitsToDouble((long)(k + 1023) << 52);

    /// <summary>e^x, deterministic. Saturates to 0 below −745 and +∞ above 709.78.</summary>
    public static double Exp(double x)
    {
        if (double.IsNaN(x)) return x;
        if (x > 709.78) return double.PositiveInfinity;
        if (x < -745.0) return 0.0;
        double r = Reduce(x, out int k);
        double e = 1.0 + Expm1Reduced(r);
        // 2^k may be subnormal for k < −1022: scale in two exact steps.
        if (k < -1000) return e * Pow2(k + 1000) * Pow2(-1000);
        if (k > 1000) return e * Pow2(k - 1000) * Pow2(1000);
        return e * Pow2(k);
    }

    /// <summary>e^x − 1, deterministic, accurate near 0.</summary>
    public static double Expm1(double x)
    {
        if (double.IsNaN(x)) return x;
        if (x < -40.0) return -1.0;
        if (x > 709.0) return double.PositiveInfinity;
        double r = Reduce(x, out int k);
        double em = Expm1Reduced(r);
        if (k == 0) return em;
        double scale = Pow2(k);
        // 2^k(1+em) − 1 = (2^k − 1) + 2^k·em: 2^k − 1 is exact for the k reachable here.
        return (scale - 1.0) + scale * em;
    }

    /// <summary>tanh x = −expm1(−2|x|) / (2 + expm1(−2|x|)), odd-extended; no cancellation near 0.</summary>
    public static double Tanh(double x)
    {
        if (double.IsNaN(x)) return x;
        double ax = Math.Abs(x);
        if (ax > 22.0) return Math.CopySign(1.0, x);
        double em = Expm1(-2.0 * ax);
        double t = -em / (2.0 + em);
        return x < 0 ? -t : t;
    }

    /// <summary>1 / (1 + e^−x), evaluated on the side where the exponential cannot overflow.</summary>
    public static double Sigmoid(double x)
    {
        if (double.IsNaN(x)) return x;
        if (x >= 0) return 1.0 / (1.0 + Exp(-x));
        double e = Exp(x);
        return e / (1.0 + e);
    }
}
