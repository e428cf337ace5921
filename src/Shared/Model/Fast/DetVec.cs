using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using static DistRnn.Model.DetMath;

namespace DistRnn.Model.Fast;

/// <summary>
/// <see cref="DetMath"/> four lanes at a time: the very same IEEE operations in the same order (no FMA,
/// no C library, no width-dependent code path), so every lane has exactly DetMath's bits on every host —
/// with AVX2, AVX-512 or no SIMD at all (Vector256 then runs in software, lane by lane, same operations).
/// Branches of the scalar code become lane selects; the range reduction's Math.Round is the
/// add-and-subtract-1.5·2^52 trick, which rounds to nearest-even exactly for |y| &lt; 2^51.
/// float data is widened to double, run through the double code and rounded once, exactly as
/// <see cref="ActivationExtensions.Apply{T}"/> does for the plain kernel.
/// </summary>
internal static class DetVec
{
    // Ln2Hi, Ln2Lo, InvLn2 and the Taylor coefficients C2..C13 are DetMath's own: one definition, so the lanes cannot drift from the scalar code.
    private const double Magic = 6755399441055744.0; // 1.5·2^52

    private static readonly Vector256<double> SignMask = Vector256.Create(-0.0);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<double> Neg(Vector256<double> v) => Vector256.Xor(v, SignMask);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<double> Expm1Reduced(Vector256<double> r)
    {
        var p = Vector256.Create(C13);
        p = p * r + Vector256.Create(C12); p = p * r + Vector256.Create(C11); p = p * r + Vector256.Create(C10);
        p = p * r + Vector256.Create(C9); p = p * r + Vector256.Create(C8); p = p * r + Vector256.Create(C7);
        p = p * r + Vector256.Create(C6); p = p * r + Vector256.Create(C5); p = p * r + Vector256.Create(C4);
        p = p * r + Vector256.Create(C3); p = p * r + Vector256.Create(C2);
        return r + r * r * p;
    }

    /// <summary>x = k·ln2 + r (Cody–Waite); x must be finite with |x| &lt; 2^50.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<double> Reduce(Vector256<double> x, out Vector256<long> k)
    {
        var magic = Vector256.Create(Magic);
        var shifted = x * Vector256.Create(InvLn2) + magic;
        var kd = shifted - magic;
        k = shifted.AsInt64() - magic.AsInt64();
        return (x - kd * Vector256.Create(Ln2Hi)) - kd * Vector256.Create(Ln2Lo);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<double> Pow2(Vector256<long> k) => Vector256.ShiftLeft(k + Vector256.Create(1023L), 52).AsDouble();

    /// <summary>DetMath.Exp, lane by lane.</summary>
    public static Vector256<double> Exp(Vector256<double> x)
    {
        var xc = Vector256.Min(Vector256.Max(x, Vector256.Create(-746.0)), Vector256.Create(710.0));
        var r = Reduce(xc, out var k);
        var e = Vector256.Create(1.0) + Expm1Reduced(r);
        var low = Vector256.LessThan(k, Vector256.Create(-1000L));
        var high = Vector256.GreaterThan(k, Vector256.Create(1000L));
        var k1 = Vector256.ConditionalSelect(low, k + Vector256.Create(1000L), Vector256.ConditionalSelect(high, k - Vector256.Create(1000L), k));
        var f2 = Vector256.ConditionalSelect(low.AsDouble(), Vector256.Create(BitConverter.Int64BitsToDouble((long)(-1000 + 1023) << 52)),
            Vector256.ConditionalSelect(high.AsDouble(), Vector256.Create(BitConverter.Int64BitsToDouble((long)(1000 + 1023) << 52)), Vector256.Create(1.0)));
        var res = e * Pow2(k1) * f2;
        res = Vector256.ConditionalSelect(Vector256.GreaterThan(x, Vector256.Create(709.78)), Vector256.Create(double.PositiveInfinity), res);
        res = Vector256.ConditionalSelect(Vector256.LessThan(x, Vector256.Create(-745.0)), Vector256<double>.Zero, res);
        return Vector256.ConditionalSelect(Vector256.IsNaN(x), x, res);
    }

    /// <summary>DetMath.Expm1 for x ≤ 0 (all tanh needs), lane by lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<double> Expm1NonPositive(Vector256<double> x)
    {
        var xc = Vector256.Max(x, Vector256.Create(-41.0));
        var r = Reduce(xc, out var k);
        var em = Expm1Reduced(r);
        var scale = Pow2(k);
        var res = (scale - Vector256.Create(1.0)) + scale * em;
        res = Vector256.ConditionalSelect(Vector256.Equals(k, Vector256<long>.Zero).AsDouble(), em, res);
        return Vector256.ConditionalSelect(Vector256.LessThan(x, Vector256.Create(-40.0)), Vector256.Create(-1.0), res);
    }

    /// <summary>DetMath.Tanh, lane by lane.</summary>
    public static Vector256<double> Tanh(Vector256<double> x)
    {
        var ax = Vector256.AndNot(x, SignMask);
        var em = Expm1NonPositive(Vector256.Create(-2.0) * Vector256.Min(ax, Vector256.Create(23.0)));
        var t = Neg(em) / (Vector256.Create(2.0) + em);
        var res = Vector256.ConditionalSelect(Vector256.LessThan(x, Vector256<double>.Zero), Neg(t), t);
        var one = Vector256.Create(1.0) | (x & SignMask);
        res = Vector256.ConditionalSelect(Vector256.GreaterThan(ax, Vector256.Create(22.0)), one, res);
        return Vector256.ConditionalSelect(Vector256.IsNaN(x), x, res);
    }

    /// <summary>DetMath.Sigmoid, lane by lane: 1/(1+e^−x) for x ≥ 0, e^x/(1+e^x) below.</summary>
    public static Vector256<double> Sigmoid(Vector256<double> x)
    {
        var nonNeg = Vector256.GreaterThanOrEqual(x, Vector256<double>.Zero);
        // Exp(−x) for x ≥ 0 and Exp(x) below: the argument is x with the sign flipped on the non-negative lanes.
        var arg = Vector256.ConditionalSelect(nonNeg, Neg(x), x);
        var e = Exp(arg);
        var one = Vector256.Create(1.0);
        var res = Vector256.ConditionalSelect(nonNeg, one / (one + e), e / (one + e));
        return Vector256.ConditionalSelect(Vector256.IsNaN(x), x, res);
    }

    /// <summary>In place: v[i] = σ(v[i]) with DetMath's bits (rounded once to T).</summary>
    public static void Activate<T>(Span<T> v, Activation act) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (act == Activation.Tanh) Apply<T, TanhOp>(v);
        else Apply<T, SigmoidOp>(v);
    }

    private interface IOp
    {
        static abstract Vector512<double> Run512(Vector512<double> x);
        static abstract Vector256<double> Run(Vector256<double> x);
        static abstract double Scalar(double x);
    }
    private struct TanhOp : IOp
    {
        public static Vector512<double> Run512(Vector512<double> x) => DetVec512.Tanh(x);
        public static Vector256<double> Run(Vector256<double> x) => Tanh(x);
        public static double Scalar(double x) => DetMath.Tanh(x);
    }
    private struct SigmoidOp : IOp
    {
        public static Vector512<double> Run512(Vector512<double> x) => DetVec512.Sigmoid(x);
        public static Vector256<double> Run(Vector256<double> x) => Sigmoid(x);
        public static double Scalar(double x) => DetMath.Sigmoid(x);
    }

    private static void Apply<T, TOp>(Span<T> v) where T : unmanaged, IFloatingPointIeee754<T> where TOp : struct, IOp
    {
        int i = 0;
        if (typeof(T) == typeof(double))
        {
            var d = System.Runtime.InteropServices.MemoryMarshal.Cast<T, double>(v);
            if (Vector512.IsHardwareAccelerated)
                for (; i + 8 <= d.Length; i += 8)
                    TOp.Run512(Vector512.Create<double>(d.Slice(i, 8))).CopyTo(d.Slice(i, 8));
            for (; i + 4 <= d.Length; i += 4)
                TOp.Run(Vector256.Create<double>(d.Slice(i, 4))).CopyTo(d.Slice(i, 4));
            for (; i < d.Length; i++) d[i] = TOp.Scalar(d[i]);
        }
        else if (typeof(T) == typeof(float))
        {
            var f = System.Runtime.InteropServices.MemoryMarshal.Cast<T, float>(v);
            if (Vector512.IsHardwareAccelerated)
                for (; i + 16 <= f.Length; i += 16)
                {
                    var (lo, hi) = Vector512.Widen(Vector512.Create<float>(f.Slice(i, 16)));
                    Vector512.Narrow(TOp.Run512(lo), TOp.Run512(hi)).CopyTo(f.Slice(i, 16));
                }
            for (; i + 8 <= f.Length; i += 8)
            {
                var (lo, hi) = Vector256.Widen(Vector256.Create<float>(f.Slice(i, 8)));
                Vector256.Narrow(TOp.Run(lo), TOp.Run(hi)).CopyTo(f.Slice(i, 8));
            }
            for (; i < f.Length; i++) f[i] = (float)TOp.Scalar(f[i]);
        }
        else
        {
            for (; i < v.Length; i++) v[i] = T.CreateTruncating(TOp.Scalar(double.CreateTruncating(v[i])));
        }
    }

    /// <summary>In place over doubles: e[i] = DetMath.Exp(e[i]).</summary>
    public static void Exp(Span<double> e)
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
            for (; i + 8 <= e.Length; i += 8) DetVec512.Exp(Vector512.Create<double>(e.Slice(i, 8))).CopyTo(e.Slice(i, 8));
        for (; i + 4 <= e.Length; i += 4) Exp(Vector256.Create<double>(e.Slice(i, 4))).CopyTo(e.Slice(i, 4));
        for (; i < e.Length; i++) e[i] = DetMath.Exp(e[i]);
    }
}

/// <summary>
/// <see cref="DetVec"/>'s lane functions eight lanes at a time, for AVX-512 hosts: the very same operations
/// per lane, so the very same bits (tested against DetMath like the 256-bit ones).
/// </summary>
internal static class DetVec512
{
    // Ln2Hi, Ln2Lo, InvLn2 and the Taylor coefficients C2..C13 are DetMath's own: one definition, so the lanes cannot drift from the scalar code.
    private const double Magic = 6755399441055744.0; // 1.5·2^52

    private static readonly Vector512<double> SignMask = Vector512.Create(-0.0);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<double> Neg(Vector512<double> v) => Vector512.Xor(v, SignMask);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<double> Expm1Reduced(Vector512<double> r)
    {
        var p = Vector512.Create(C13);
        p = p * r + Vector512.Create(C12); p = p * r + Vector512.Create(C11); p = p * r + Vector512.Create(C10);
        p = p * r + Vector512.Create(C9); p = p * r + Vector512.Create(C8); p = p * r + Vector512.Create(C7);
        p = p * r + Vector512.Create(C6); p = p * r + Vector512.Create(C5); p = p * r + Vector512.Create(C4);
        p = p * r + Vector512.Create(C3); p = p * r + Vector512.Create(C2);
        return r + r * r * p;
    }

    /// <summary>x = k·ln2 + r (Cody–Waite); x must be finite with |x| &lt; 2^50.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<double> Reduce(Vector512<double> x, out Vector512<long> k)
    {
        var magic = Vector512.Create(Magic);
        var shifted = x * Vector512.Create(InvLn2) + magic;
        var kd = shifted - magic;
        k = shifted.AsInt64() - magic.AsInt64();
        return (x - kd * Vector512.Create(Ln2Hi)) - kd * Vector512.Create(Ln2Lo);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<double> Pow2(Vector512<long> k) => Vector512.ShiftLeft(k + Vector512.Create(1023L), 52).AsDouble();

    /// <summary>DetMath.Exp, lane by lane.</summary>
    public static Vector512<double> Exp(Vector512<double> x)
    {
        var xc = Vector512.Min(Vector512.Max(x, Vector512.Create(-746.0)), Vector512.Create(710.0));
        var r = Reduce(xc, out var k);
        var e = Vector512.Create(1.0) + Expm1Reduced(r);
        var low = Vector512.LessThan(k, Vector512.Create(-1000L));
        var high = Vector512.GreaterThan(k, Vector512.Create(1000L));
        var k1 = Vector512.ConditionalSelect(low, k + Vector512.Create(1000L), Vector512.ConditionalSelect(high, k - Vector512.Create(1000L), k));
        var f2 = Vector512.ConditionalSelect(low.AsDouble(), Vector512.Create(BitConverter.Int64BitsToDouble((long)(-1000 + 1023) << 52)),
            Vector512.ConditionalSelect(high.AsDouble(), Vector512.Create(BitConverter.Int64BitsToDouble((long)(1000 + 1023) << 52)), Vector512.Create(1.0)));
        var res = e * Pow2(k1) * f2;
        res = Vector512.ConditionalSelect(Vector512.GreaterThan(x, Vector512.Create(709.78)), Vector512.Create(double.PositiveInfinity), res);
        res = Vector512.ConditionalSelect(Vector512.LessThan(x, Vector512.Create(-745.0)), Vector512<double>.Zero, res);
        return Vector512.ConditionalSelect(Vector512.IsNaN(x), x, res);
    }

    /// <summary>DetMath.Expm1 for x ≤ 0 (all tanh needs), lane by lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<double> Expm1NonPositive(Vector512<double> x)
    {
        var xc = Vector512.Max(x, Vector512.Create(-41.0));
        var r = Reduce(xc, out var k);
        var em = Expm1Reduced(r);
        var scale = Pow2(k);
        var res = (scale - Vector512.Create(1.0)) + scale * em;
        res = Vector512.ConditionalSelect(Vector512.Equals(k, Vector512<long>.Zero).AsDouble(), em, res);
        return Vector512.ConditionalSelect(Vector512.LessThan(x, Vector512.Create(-40.0)), Vector512.Create(-1.0), res);
    }

    /// <summary>DetMath.Tanh, lane by lane.</summary>
    public static Vector512<double> Tanh(Vector512<double> x)
    {
        var ax = Vector512.AndNot(x, SignMask);
        var em = Expm1NonPositive(Vector512.Create(-2.0) * Vector512.Min(ax, Vector512.Create(23.0)));
        var t = Neg(em) / (Vector512.Create(2.0) + em);
        var res = Vector512.ConditionalSelect(Vector512.LessThan(x, Vector512<double>.Zero), Neg(t), t);
        var one = Vector512.Create(1.0) | (x & SignMask);
        res = Vector512.ConditionalSelect(Vector512.GreaterThan(ax, Vector512.Create(22.0)), one, res);
        return Vector512.ConditionalSelect(Vector512.IsNaN(x), x, res);
    }

    /// <summary>DetMath.Sigmoid, lane by lane: 1/(1+e^−x) for x ≥ 0, e^x/(1+e^x) below.</summary>
    public static Vector512<double> Sigmoid(Vector512<double> x)
    {
        var nonNeg = Vector512.GreaterThanOrEqual(x, Vector512<double>.Zero);
        // Exp(−x) for x ≥ 0 and Exp(x) below: the argument is x with the sign flipped on the non-negative lanes.
        var arg = Vector512.ConditionalSelect(nonNeg, Neg(x), x);
        var e = Exp(arg);
        var one = Vector512.Create(1.0);
        var res = Vector512.ConditionalSelect(nonNeg, one / (one + e), e / (one + e));
        return Vector512.ConditionalSelect(Vector512.IsNaN(x), x, res);
    }
}
