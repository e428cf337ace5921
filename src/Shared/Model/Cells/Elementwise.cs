using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace DistRnn.Model;

/// <summary>
/// The gated cells' elementwise work for <see cref="FastGatedKernel{T}"/>, <see cref="Vector{T}"/> lanes at a time. Every
/// lane runs exactly the scalar expression next to it (the same IEEE operations in the same order, multiplies and adds
/// never fused), and the tail runs that scalar expression, so the bits do not depend on the vector width. The
/// equations are <see cref="CellStep{T}"/>'s.
/// </summary>
internal static class Elementwise
{
    private static bool Lanes<T>() => Vector.IsHardwareAccelerated && (typeof(T) == typeof(float) || typeof(T) == typeof(double));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector<T> Load<T>(ReadOnlySpan<T> s, int i) where T : unmanaged => new(s[i..]);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store<T>(Vector<T> v, Span<T> s, int i) where T : unmanaged => v.CopyTo(s[i..]);

    /// <summary>into = a + b.</summary>
    public static void Sum<T>(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> into) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int n = into.Length, j = 0;
        if (Lanes<T>()) for (int v = Vector<T>.Count; j + v <= n; j += v) Store(Load(a, j) + Load(b, j), into, j);
        for (; j < n; j++) into[j] = a[j] + b[j];
    }

    /// <summary>into = a ⊙ b.</summary>
    public static void Product<T>(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> into) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int n = into.Length, j = 0;
        if (Lanes<T>()) for (int v = Vector<T>.Count; j + v <= n; j += v) Store(Load(a, j) * Load(b, j), into, j);
        for (; j < n; j++) into[j] = a[j] * b[j];
    }

    /// <summary>lstm: c_t = f ⊙ c_{t−1} + i ⊙ g (gates [i f g o] activated in <paramref name="gates"/>).</summary>
    public static void LstmCell<T>(ReadOnlySpan<T> gates, ReadOnlySpan<T> cPrev, Span<T> c, int d) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var i = gates[..d]; var f = gates.Slice(d, d); var g = gates.Slice(2 * d, d);
        int j = 0;
        if (Lanes<T>()) for (int v = Vector<T>.Count; j + v <= d; j += v) Store(Load(f, j) * Load(cPrev, j) + Load(i, j) * Load(g, j), c, j);
        for (; j < d; j++) c[j] = f[j] * cPrev[j] + i[j] * g[j];
    }

    /// <summary>gru, before n's tanh: row's n block += r ⊙ (the h side's n block) (r activated in row's first block).</summary>
    public static void GruCandidate<T>(Span<T> row, ReadOnlySpan<T> hSide, int d) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var r = row[..d]; var n = row.Slice(2 * d, d); var hn = hSide.Slice(2 * d, d);
        int j = 0;
        if (Lanes<T>()) for (int v = Vector<T>.Count; j + v <= d; j += v) Store(Load<T>(n, j) + Load<T>(r, j) * Load(hn, j), n, j);
        for (; j < d; j++) n[j] += r[j] * hn[j];
    }

    /// <summary>gru: h_t = (1 − z) ⊙ n + z ⊙ h_{t−1}.</summary>
    public static void GruState<T>(ReadOnlySpan<T> row, ReadOnlySpan<T> hPrev, Span<T> h, int d) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var z = row.Slice(d, d); var n = row.Slice(2 * d, d);
        int j = 0;
        if (Lanes<T>())
        {
            var one = Vector<T>.One;
            for (int v = Vector<T>.Count; j + v <= d; j += v)
            {
                var zj = Load(z, j);
                Store((one - zj) * Load(n, j) + zj * Load(hPrev, j), h, j);
            }
        }
        for (; j < d; j++) h[j] = (T.One - z[j]) * n[j] + z[j] * hPrev[j];
    }

    /// <summary>
    /// lstm's step backwards for one row: from dH = up + dh (the error from above and from h_{t+1}) and dc (from c_{t+1}),
    /// the gates' errors dA = [di df dg do] into <paramref name="g"/>'s place and dc ⊙ f, the error c_{t−1} passes on, into
    /// <paramref name="dc"/>; tc = tanh(c_t).
    /// </summary>
    public static void LstmBack<T>(Span<T> g, ReadOnlySpan<T> cPrev, ReadOnlySpan<T> tc, ReadOnlySpan<T> up, ReadOnlySpan<T> dh, Span<T> dc, int d)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var gi = g[..d]; var gf = g.Slice(d, d); var gg = g.Slice(2 * d, d); var go = g.Slice(3 * d, d);
        int j = 0;
        if (Lanes<T>())
        {
            var one = Vector<T>.One;
            for (int v = Vector<T>.Count; j + v <= d; j += v)
            {
                Vector<T> i = Load<T>(gi, j), f = Load<T>(gf, j), gj = Load<T>(gg, j), o = Load<T>(go, j), tcj = Load(tc, j);
                var dH = Load(up, j) + Load(dh, j);
                var dC = dH * o * (one - tcj * tcj) + Load<T>(dc, j);
                var dO = dH * tcj;
                Store(dC * gj * i * (one - i), gi, j);
                Store(dC * Load(cPrev, j) * f * (one - f), gf, j);
                Store(dC * i * (one - gj * gj), gg, j);
                Store(dO * o * (one - o), go, j);
                Store(dC * f, dc, j);
            }
        }
        for (; j < d; j++)
        {
            T i = gi[j], f = gf[j], gj = gg[j], o = go[j], tcj = tc[j];
            T dH = up[j] + dh[j];
            T dC = dH * o * (T.One - tcj * tcj) + dc[j];
            T dO = dH * tcj;
            gi[j] = dC * gj * i * (T.One - i);
            gf[j] = dC * cPrev[j] * f * (T.One - f);
            gg[j] = dC * i * (T.One - gj * gj);
            go[j] = dO * o * (T.One - o);
            dc[j] = dC * f;
        }
    }
    /// <summary>
    /// gru's step backwards for one row (<c>FastGatedKernel.GruBackStep</c>): from a = [r z n] and b's h side [· · hn],
    /// dA (x side) into a, dB (h side) into b, and dH ⊙ z into <paramref name="dh"/>, each lane the scalar expression.
    /// </summary>
    public static void GruBack<T>(Span<T> a, Span<T> b, ReadOnlySpan<T> hPrev, ReadOnlySpan<T> up, Span<T> dh, int d)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var ar = a[..d]; var az = a.Slice(d, d); var an = a.Slice(2 * d, d);
        var br = b[..d]; var bz = b.Slice(d, d); var bn = b.Slice(2 * d, d);
        int j = 0;
        if (Lanes<T>())
        {
            var one = Vector<T>.One;
            for (int v = Vector<T>.Count; j + v <= d; j += v)
            {
                Vector<T> rr = Load<T>(ar, j), z = Load<T>(az, j), n = Load<T>(an, j), hn = Load<T>(bn, j);
                var dH = Load(up, j) + Load<T>(dh, j);
                var dan = dH * (one - z) * (one - n * n);
                var dr = dan * hn * rr * (one - rr);
                var dz = dH * (Load(hPrev, j) - n) * z * (one - z);
                Store(dr, ar, j); Store(dr, br, j);
                Store(dz, az, j); Store(dz, bz, j);
                Store(dan, an, j);
                Store(dan * rr, bn, j);
                Store(dH * z, dh, j);
            }
        }
        for (; j < d; j++)
        {
            T rr = ar[j], z = az[j], n = an[j], hn = bn[j];
            T dH = up[j] + dh[j];
            T dan = dH * (T.One - z) * (T.One - n * n);
            ar[j] = br[j] = dan * hn * rr * (T.One - rr);
            az[j] = bz[j] = dH * (hPrev[j] - n) * z * (T.One - z);
            an[j] = dan;
            bn[j] = dan * rr;
            dh[j] = dH * z;
        }
    }
}
