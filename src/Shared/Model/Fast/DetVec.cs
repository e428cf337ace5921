using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using static DistRnn.Model.DetMath;

namespace DistRnn.Model.Fast;

/// <summary>
/// <see cref="DetMath"/> four lanes at a time (eight on AVX-512 hosts): the very same IEEE operations in the
/// same order (no FMA, no C library, no width-dependent code path), so every lane has exactly DetMath's bits
/// on every host — with AVX2, AVX-512 or no SIMD at all (Vector256 then runs in software, lane by lane, same
/// operations). The functions are written once, in <see cref="DetLanes{TVec, TInt, L}"/>, over either width.
/// float data is widened to double, run through the double code and rounded once, exactly as
/// <see cref="ActivationExtensions.Apply{T}"/> does for the plain kernel.
/// </summary>
internal static class DetVec
{
    /// <summary>DetMath.Exp, lane by lane.</summary>
    public static Vector256<double> Exp(Vector256<double> x) => DetLanes<Vector256<double>, Vector256<long>, Lanes256>.Exp(x);

    /// <summary>DetMath.Tanh, lane by lane.</summary>
    public static Vector256<double> Tanh(Vector256<double> x) => DetLanes<Vector256<double>, Vector256<long>, Lanes256>.Tanh(x);

    /// <summary>DetMath.Sigmoid, lane by lane.</summary>
    public static Vector256<double> Sigmoid(Vector256<double> x) => DetLanes<Vector256<double>, Vector256<long>, Lanes256>.Sigmoid(x);

    /// <summary>In place: v[i] = σ(v[i]) with DetMath's bits (rounded once to T).</summary>
    public static void Activate<T>(Span<T> v, Activation act) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (act == Activation.Tanh) Apply<T, TanhOp>(v);
        else Apply<T, SigmoidOp>(v);
    }

    /// <summary>In place over doubles: e[i] = DetMath.Exp(e[i]).</summary>
    public static void Exp(Span<double> e) => Apply<double, ExpOp>(e);

    /// <summary>One of DetMath's functions, at either width and on a single double (the tail).</summary>
    private interface IOp
    {
        static abstract TVec Run<TVec, TInt, L>(TVec x) where TVec : struct where TInt : struct where L : struct, ILanes<TVec, TInt>;
        static abstract double Scalar(double x);
    }
    private struct ExpOp : IOp
    {
        public static TVec Run<TVec, TInt, L>(TVec x) where TVec : struct where TInt : struct where L : struct, ILanes<TVec, TInt> => DetLanes<TVec, TInt, L>.Exp(x);
        public static double Scalar(double x) => DetMath.Exp(x);
    }
    private struct TanhOp : IOp
    {
        public static TVec Run<TVec, TInt, L>(TVec x) where TVec : struct where TInt : struct where L : struct, ILanes<TVec, TInt> => DetLanes<TVec, TInt, L>.Tanh(x);
        public static double Scalar(double x) => DetMath.Tanh(x);
    }
    private struct SigmoidOp : IOp
    {
        public static TVec Run<TVec, TInt, L>(TVec x) where TVec : struct where TInt : struct where L : struct, ILanes<TVec, TInt> => DetLanes<TVec, TInt, L>.Sigmoid(x);
        public static double Scalar(double x) => DetMath.Sigmoid(x);
    }

    /// <summary>512-bit blocks where the hardware has them, then 256-bit blocks, then one value at a time: the same bits in every part.</summary>
    private static void Apply<T, TOp>(Span<T> v) where T : unmanaged, IFloatingPointIeee754<T> where TOp : struct, IOp
    {
        int i = 0;
        if (typeof(T) == typeof(double))
        {
            var d = MemoryMarshal.Cast<T, double>(v);
            if (Vector512.IsHardwareAccelerated) Blocks<Vector512<double>, Vector512<long>, Lanes512, TOp>(d, ref i);
            Blocks<Vector256<double>, Vector256<long>, Lanes256, TOp>(d, ref i);
            for (; i < d.Length; i++) d[i] = TOp.Scalar(d[i]);
        }
        else if (typeof(T) == typeof(float))
        {
            var f = MemoryMarshal.Cast<T, float>(v);
            if (Vector512.IsHardwareAccelerated) Blocks<Vector512<double>, Vector512<long>, Lanes512, TOp>(f, ref i);
            Blocks<Vector256<double>, Vector256<long>, Lanes256, TOp>(f, ref i);
            for (; i < f.Length; i++) f[i] = (float)TOp.Scalar(f[i]);
        }
        else
        {
            for (; i < v.Length; i++) v[i] = T.CreateTruncating(TOp.Scalar(double.CreateTruncating(v[i])));
        }
    }

    /// <summary>
    /// Doubles one vector at a time. The loop is a method of its own, into which the lane function (marked
    /// AggressiveInlining) is inlined whole, so that every vector stays in registers: called per vector, a
    /// Vector512 goes to and from the call through memory (the managed ABI passes it by reference), and the stalls
    /// on those loads serialised the vectors (measured: sigmoid 4.1 → 2.2 ns a float; the step's activations ~9 → ~7.7 %).
    /// Only the speed depends on it.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void Blocks<TVec, TInt, L, TOp>(Span<double> d, ref int i)
        where TVec : struct where TInt : struct where L : struct, ILanes<TVec, TInt> where TOp : struct, IOp
    {
        for (; i + L.Count <= d.Length; i += L.Count)
            L.Store(TOp.Run<TVec, TInt, L>(L.Load(d.Slice(i, L.Count))), d.Slice(i, L.Count));
    }

    /// <summary>Floats two vectors of doubles at a time: widened, run, narrowed (rounded once). A method of its own, as the double one.</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void Blocks<TVec, TInt, L, TOp>(Span<float> f, ref int i)
        where TVec : struct where TInt : struct where L : struct, ILanes<TVec, TInt> where TOp : struct, IOp
    {
        for (; i + 2 * L.Count <= f.Length; i += 2 * L.Count)
        {
            var (lo, hi) = L.Widen(f.Slice(i, 2 * L.Count));
            L.Narrow(TOp.Run<TVec, TInt, L>(lo), TOp.Run<TVec, TInt, L>(hi), f.Slice(i, 2 * L.Count));
        }
    }
}

/// <summary><see cref="DetVec"/>'s lane functions eight lanes at a time, for AVX-512 hosts (tested against DetMath like the 256-bit ones).</summary>
internal static class DetVec512
{
    /// <summary>DetMath.Exp, lane by lane.</summary>
    public static Vector512<double> Exp(Vector512<double> x) => DetLanes<Vector512<double>, Vector512<long>, Lanes512>.Exp(x);

    /// <summary>DetMath.Tanh, lane by lane.</summary>
    public static Vector512<double> Tanh(Vector512<double> x) => DetLanes<Vector512<double>, Vector512<long>, Lanes512>.Tanh(x);

    /// <summary>DetMath.Sigmoid, lane by lane.</summary>
    public static Vector512<double> Sigmoid(Vector512<double> x) => DetLanes<Vector512<double>, Vector512<long>, Lanes512>.Sigmoid(x);
}

/// <summary>
/// The lane operations DetMath's functions need, on one vector width: TVec holds doubles, TInt the same
/// register read as 64-bit integers (the exponent k of the range reduction). Implemented by structs, so the
/// JIT compiles <see cref="DetLanes{TVec, TInt, L}"/> once per width with the calls inlined.
/// </summary>
internal interface ILanes<TVec, TInt> where TVec : struct where TInt : struct
{
    static abstract int Count { get; }
    static abstract TVec Load(ReadOnlySpan<double> x);
    static abstract void Store(TVec v, Span<double> into);
    static abstract (TVec Lo, TVec Hi) Widen(ReadOnlySpan<float> x);
    static abstract void Narrow(TVec lo, TVec hi, Span<float> into);

    static abstract TVec Splat(double x);
    static abstract TInt Splat(long x);
    static abstract TVec Add(TVec a, TVec b);
    static abstract TVec Subtract(TVec a, TVec b);
    static abstract TVec Multiply(TVec a, TVec b);
    static abstract TVec Divide(TVec a, TVec b);
    /// <summary>Per lane min(a, bound) / max(a, bound): the bound a constant where the JIT can see it, so it needs no NaN and ±0 fix-ups.</summary>
    static abstract TVec Min(TVec a, double bound);
    static abstract TVec Max(TVec a, double bound);
    static abstract TVec Xor(TVec a, TVec b);
    static abstract TVec And(TVec a, TVec b);
    static abstract TVec Or(TVec a, TVec b);
    static abstract TVec AndNot(TVec a, TVec b);
    /// <summary>Per lane: mask lane all ones ? a : b (bitwise).</summary>
    static abstract TVec Select(TVec mask, TVec a, TVec b);
    static abstract TVec LessThan(TVec a, TVec b);
    static abstract TVec GreaterThan(TVec a, TVec b);
    static abstract TVec GreaterThanOrEqual(TVec a, TVec b);
    static abstract TVec IsNaN(TVec x);

    static abstract TInt Add(TInt a, TInt b);
    static abstract TInt Subtract(TInt a, TInt b);
    static abstract TInt Select(TInt mask, TInt a, TInt b);
    static abstract TInt LessThan(TInt a, TInt b);
    static abstract TInt GreaterThan(TInt a, TInt b);
    static abstract TInt Equals(TInt a, TInt b);
    static abstract TInt ShiftLeft(TInt a, int bits);
    static abstract TInt AsInt64(TVec x);
    static abstract TVec AsDouble(TInt x);
}

internal struct Lanes256 : ILanes<Vector256<double>, Vector256<long>>
{
    public static int Count => Vector256<double>.Count;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<double> Load(ReadOnlySpan<double> x) => Vector256.Create(x);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(Vector256<double> v, Span<double> into) => v.CopyTo(into);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static (Vector256<double> Lo, Vector256<double> Hi) Widen(ReadOnlySpan<float> x) => Vector256.Widen(Vector256.Create(x));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Narrow(Vector256<double> lo, Vector256<double> hi, Span<float> into) => Vector256.Narrow(lo, hi).CopyTo(into);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<double> Splat(double x) => Vector256.Create(x);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<long> Splat(long x) => Vector256.Create(x);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<double> Add(Vector256<double> a, Vector256<double> b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<double> Subtract(Vector256<double> a, Vector256<double> b) => a - b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<double> Multiply(Vector256<double> a, Vector256<double> b) => a * b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<double> Divide(Vector256<double> a, Vector256<double> b) => a / b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<double> Min(Vector256<double> a, double bound) => Vector256.Min(a, Vector256.Create(bound));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<double> Max(Vector256<double> a, double bound) => Vector256.Max(a, Vector256.Create(bound));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<double> Xor(Vector256<double> a, Vector256<double> b) => a ^ b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<double> And(Vector256<double> a, Vector256<double> b) => a & b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<double> Or(Vector256<double> a, Vector256<double> b) => a | b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<double> AndNot(Vector256<double> a, Vector256<double> b) => Vector256.AndNot(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<double> Select(Vector256<double> mask, Vector256<double> a, Vector256<double> b) => Vector256.ConditionalSelect(mask, a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<double> LessThan(Vector256<double> a, Vector256<double> b) => Vector256.LessThan(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<double> GreaterThan(Vector256<double> a, Vector256<double> b) => Vector256.GreaterThan(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<double> GreaterThanOrEqual(Vector256<double> a, Vector256<double> b) => Vector256.GreaterThanOrEqual(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<double> IsNaN(Vector256<double> x) => Vector256.IsNaN(x);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<long> Add(Vector256<long> a, Vector256<long> b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<long> Subtract(Vector256<long> a, Vector256<long> b) => a - b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<long> Select(Vector256<long> mask, Vector256<long> a, Vector256<long> b) => Vector256.ConditionalSelect(mask, a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<long> LessThan(Vector256<long> a, Vector256<long> b) => Vector256.LessThan(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<long> GreaterThan(Vector256<long> a, Vector256<long> b) => Vector256.GreaterThan(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<long> Equals(Vector256<long> a, Vector256<long> b) => Vector256.Equals(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<long> ShiftLeft(Vector256<long> a, int bits) => Vector256.ShiftLeft(a, bits);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<long> AsInt64(Vector256<double> x) => x.AsInt64();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<double> AsDouble(Vector256<long> x) => x.AsDouble();
}

internal struct Lanes512 : ILanes<Vector512<double>, Vector512<long>>
{
    public static int Count => Vector512<double>.Count;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<double> Load(ReadOnlySpan<double> x) => Vector512.Create(x);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(Vector512<double> v, Span<double> into) => v.CopyTo(into);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static (Vector512<double> Lo, Vector512<double> Hi) Widen(ReadOnlySpan<float> x) => Vector512.Widen(Vector512.Create(x));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Narrow(Vector512<double> lo, Vector512<double> hi, Span<float> into) => Vector512.Narrow(lo, hi).CopyTo(into);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<double> Splat(double x) => Vector512.Create(x);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<long> Splat(long x) => Vector512.Create(x);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<double> Add(Vector512<double> a, Vector512<double> b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<double> Subtract(Vector512<double> a, Vector512<double> b) => a - b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<double> Multiply(Vector512<double> a, Vector512<double> b) => a * b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<double> Divide(Vector512<double> a, Vector512<double> b) => a / b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<double> Min(Vector512<double> a, double bound) => Vector512.Min(a, Vector512.Create(bound));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<double> Max(Vector512<double> a, double bound) => Vector512.Max(a, Vector512.Create(bound));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<double> Xor(Vector512<double> a, Vector512<double> b) => a ^ b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<double> And(Vector512<double> a, Vector512<double> b) => a & b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<double> Or(Vector512<double> a, Vector512<double> b) => a | b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<double> AndNot(Vector512<double> a, Vector512<double> b) => Vector512.AndNot(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<double> Select(Vector512<double> mask, Vector512<double> a, Vector512<double> b) => Vector512.ConditionalSelect(mask, a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<double> LessThan(Vector512<double> a, Vector512<double> b) => Vector512.LessThan(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<double> GreaterThan(Vector512<double> a, Vector512<double> b) => Vector512.GreaterThan(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<double> GreaterThanOrEqual(Vector512<double> a, Vector512<double> b) => Vector512.GreaterThanOrEqual(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<double> IsNaN(Vector512<double> x) => Vector512.IsNaN(x);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<long> Add(Vector512<long> a, Vector512<long> b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<long> Subtract(Vector512<long> a, Vector512<long> b) => a - b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<long> Select(Vector512<long> mask, Vector512<long> a, Vector512<long> b) => Vector512.ConditionalSelect(mask, a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<long> LessThan(Vector512<long> a, Vector512<long> b) => Vector512.LessThan(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<long> GreaterThan(Vector512<long> a, Vector512<long> b) => Vector512.GreaterThan(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<long> Equals(Vector512<long> a, Vector512<long> b) => Vector512.Equals(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<long> ShiftLeft(Vector512<long> a, int bits) => Vector512.ShiftLeft(a, bits);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<long> AsInt64(Vector512<double> x) => x.AsInt64();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<double> AsDouble(Vector512<long> x) => x.AsDouble();
}

/// <summary>
/// DetMath's exp, tanh and sigmoid written once over a lane width <typeparamref name="L"/>: branches of the
/// scalar code become lane selects; the range reduction's Math.Round is the add-and-subtract-1.5·2^52
/// trick, which rounds to nearest-even exactly for |y| &lt; 2^51.
/// </summary>
internal static class DetLanes<TVec, TInt, L> where TVec : struct where TInt : struct where L : struct, ILanes<TVec, TInt>
{
    // Ln2Hi, Ln2Lo, InvLn2 and the Taylor coefficients C2..C13 are DetMath's own: one definition, so the lanes cannot drift from the scalar code.
    private const double Magic = 6755399441055744.0; // 1.5·2^52

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TVec Neg(TVec v) => L.Xor(v, L.Splat(-0.0));

    /// <summary>One Horner step p·r + c: a multiply, then an add (never fused, as in DetMath).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TVec Horner(TVec p, TVec r, double c) => L.Add(L.Multiply(p, r), L.Splat(c));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TVec Expm1Reduced(TVec r)
    {
        var p = L.Splat(C13);
        p = Horner(p, r, C12); p = Horner(p, r, C11); p = Horner(p, r, C10);
        p = Horner(p, r, C9); p = Horner(p, r, C8); p = Horner(p, r, C7);
        p = Horner(p, r, C6); p = Horner(p, r, C5); p = Horner(p, r, C4);
        p = Horner(p, r, C3); p = Horner(p, r, C2);
        return L.Add(r, L.Multiply(L.Multiply(r, r), p));
    }

    /// <summary>x = k·ln2 + r (Cody–Waite); x must be finite with |x| &lt; 2^50.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TVec Reduce(TVec x, out TInt k)
    {
        var magic = L.Splat(Magic);
        var shifted = L.Add(L.Multiply(x, L.Splat(InvLn2)), magic);
        var kd = L.Subtract(shifted, magic);
        k = L.Subtract(L.AsInt64(shifted), L.AsInt64(magic));
        return L.Subtract(L.Subtract(x, L.Multiply(kd, L.Splat(Ln2Hi))), L.Multiply(kd, L.Splat(Ln2Lo)));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TVec Pow2(TInt k) => L.AsDouble(L.ShiftLeft(L.Add(k, L.Splat(1023L)), 52));

    /// <summary>DetMath.Exp, lane by lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVec Exp(TVec x)
    {
        var xc = L.Min(L.Max(x, -746.0), 710.0);
        var r = Reduce(xc, out var k);
        var e = L.Add(L.Splat(1.0), Expm1Reduced(r));
        var low = L.LessThan(k, L.Splat(-1000L));
        var high = L.GreaterThan(k, L.Splat(1000L));
        var k1 = L.Select(low, L.Add(k, L.Splat(1000L)), L.Select(high, L.Subtract(k, L.Splat(1000L)), k));
        var f2 = L.Select(L.AsDouble(low), L.Splat(BitConverter.Int64BitsToDouble((long)(-1000 + 1023) << 52)),
            L.Select(L.AsDouble(high), L.Splat(BitConverter.Int64BitsToDouble((long)(1000 + 1023) << 52)), L.Splat(1.0)));
        var res = L.Multiply(L.Multiply(e, Pow2(k1)), f2);
        res = L.Select(L.GreaterThan(x, L.Splat(709.78)), L.Splat(double.PositiveInfinity), res);
        res = L.Select(L.LessThan(x, L.Splat(-745.0)), L.Splat(0.0), res);
        return L.Select(L.IsNaN(x), x, res);
    }

    /// <summary>DetMath.Expm1 for x ≤ 0 (all tanh needs), lane by lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TVec Expm1NonPositive(TVec x)
    {
        var xc = L.Max(x, -41.0);
        var r = Reduce(xc, out var k);
        var em = Expm1Reduced(r);
        var scale = Pow2(k);
        var res = L.Add(L.Subtract(scale, L.Splat(1.0)), L.Multiply(scale, em));
        res = L.Select(L.AsDouble(L.Equals(k, L.Splat(0L))), em, res);
        return L.Select(L.LessThan(x, L.Splat(-40.0)), L.Splat(-1.0), res);
    }

    /// <summary>DetMath.Tanh, lane by lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVec Tanh(TVec x)
    {
        var signMask = L.Splat(-0.0);
        var ax = L.AndNot(x, signMask);
        var em = Expm1NonPositive(L.Multiply(L.Splat(-2.0), L.Min(ax, 23.0)));
        var t = L.Divide(Neg(em), L.Add(L.Splat(2.0), em));
        var res = L.Select(L.LessThan(x, L.Splat(0.0)), Neg(t), t);
        var one = L.Or(L.Splat(1.0), L.And(x, signMask));
        res = L.Select(L.GreaterThan(ax, L.Splat(22.0)), one, res);
        return L.Select(L.IsNaN(x), x, res);
    }

    /// <summary>
    /// DetMath.Sigmoid, lane by lane: 1/(1+e^−x) for x ≥ 0, e^x/(1+e^x) below. One division: the numerator (1 or e) is
    /// chosen first, so each lane divides exactly the operands DetMath divides; the exponential's argument is never
    /// positive, so <see cref="ExpNonPositive"/> (DetMath.Exp without its overflow branches) gives DetMath.Exp's bits.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVec Sigmoid(TVec x)
    {
        var nonNeg = L.GreaterThanOrEqual(x, L.Splat(0.0));
        // Exp(−x) for x ≥ 0 and Exp(x) below: the argument is x with the sign flipped on the non-negative lanes.
        var e = ExpNonPositive(L.Select(nonNeg, Neg(x), x));
        var one = L.Splat(1.0);
        var res = L.Divide(L.Select(nonNeg, one, e), L.Add(one, e));
        return L.Select(L.IsNaN(x), x, res);
    }

    /// <summary>DetMath.Exp for x ≤ 0 (NaN lanes are the caller's): its bits, without the branches only x &gt; 0 can take.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TVec ExpNonPositive(TVec x)
    {
        var r = Reduce(L.Max(x, -746.0), out var k);
        var e = L.Add(L.Splat(1.0), Expm1Reduced(r));
        // 2^k may be subnormal for k < −1000: scale in two exact steps, as DetMath (the second factor is 1 elsewhere)
        var low = L.LessThan(k, L.Splat(-1000L));
        var k1 = L.Select(low, L.Add(k, L.Splat(1000L)), k);
        var f2 = L.Select(L.AsDouble(low), L.Splat(BitConverter.Int64BitsToDouble((long)(-1000 + 1023) << 52)), L.Splat(1.0));
        var res = L.Multiply(L.Multiply(e, Pow2(k1)), f2);
        return L.Select(L.LessThan(x, L.Splat(-745.0)), L.Splat(0.0), res);
    }
}
