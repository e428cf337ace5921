using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using DistRnn.Model.Fast;

namespace DistRnn.Model;

/// <summary>
/// The kernel training uses: the same maths as <see cref="PlainKernel{T}"/> (its oracle in the tests),
/// organised for speed and still bit-reproducible on every host.
///
/// All sequences of a call advance together, one time step at a time, as rows of matrices (one row per sequence still running):
///   A_t = X_t U + b + S_{t−1} W        X_t U is a row lookup; S_{t−1} W one (sequences)×d · d×d product
///   S_t = σ(A_t)                        vectorised DetMath (exactly DetMath's bits)
///   Z   = S V + c                       all time steps at once: (Σ lengths)×d · d×k
///   Y   = softmax(Z), loss, dZ = Y − onehot   fused, one row at a time
///   dS  = dZ Vᵀ                         all time steps at once
///   dS_t += dA_{t+1} Wᵀ,  dA_t = dS_t ⊙ σ'   backwards in t, (sequences)×d · d×d
///   dW = Σ S_{t−1}ᵀ dA_t, dV = Σ S_tᵀ dZ_t  per shard, as one product over all its rows (time × sequence)
///   dU[x] += dA, db += Σ dA, dc += Σ dZ
/// Sequences may have different lengths (evaluation windows): they are ordered longest first (stably),
/// so the rows still running at step t are a prefix.
///
/// Determinism: every sum is computed in one fixed order that depends only on the shard's sequences —
/// each product element is a sequential FMA chain (see <see cref="Gemm{T}"/>), vectors run across
/// independent outputs, never across a sum. A shard's gradient is therefore the same bits whether it is
/// computed alone or together with other shards in one call, on any thread, on any host.
/// Rows are padded to a multiple of the micro-tile width (dn ≥ d, kp ≥ k) and d-wide rows are dp ≥ dn apart
/// (<see cref="Gemm{T}.Stride"/>); the padding columns are kept finite and never summed into a result.
/// </summary>
public sealed unsafe class FastKernel<T> : IShardKernel<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static readonly FastKernel<T> Instance = new(Gemm<T>.Wide);

    private readonly bool wide;

    /// <param name="wide">512-bit products (AVX-512 hosts); the bits are the same either way, tests compare both</param>
    internal FastKernel(bool wide) => this.wide = wide && Vector512.IsHardwareAccelerated;

    static FastKernel()
    {
        if (typeof(T) != typeof(float) && typeof(T) != typeof(double))
            throw new NotSupportedException($"FastKernel supports float and double, not {typeof(T).Name}");
    }

    public double Accumulate(Tensors<T> p, Activation act, ReadOnlySpan<int> tokens, ReadOnlySpan<SequenceRef> seqs, Tensors<T> grad)
    {
        var sink = new AddSink(grad);
        Span<int> bounds = [0, seqs.Length];
        Run(p, act, tokens, seqs, bounds, gradients: true, ref sink);
        return sink.Loss;
    }

    public double Loss(Tensors<T> p, Activation act, ReadOnlySpan<int> tokens, ReadOnlySpan<SequenceRef> seqs)
    {
        var sink = new AddSink(null);
        Span<int> bounds = [0, seqs.Length];
        Run(p, act, tokens, seqs, bounds, gradients: false, ref sink);
        return sink.Loss;
    }

    /// <summary>Packs <paramref name="p"/> once for several <see cref="Run{TSink}"/> passes on any threads (into <paramref name="into"/> when given).</summary>
    public PackedParams<T> Pack(Tensors<T> p, bool gradients, PackedParams<T>? into = null)
    {
        var packed = into ?? new PackedParams<T>();
        packed.Pack(p, wide, gradients);
        return packed;
    }

    private struct AddSink(Tensors<T>? grad) : IShardSink<T>
    {
        public double Loss;
        public void OnShard(int shard, Tensors<T>? g, double loss, long chars)
        {
            Loss += loss;
            if (g is not null) grad!.Add(g);
        }
    }

    /// <summary>
    /// Several shards in one pass: shard j is seqs[bounds[j] .. bounds[j+1]). The recurrences of all of
    /// them run together (bigger products), the weight gradients per shard; <paramref name="sink"/> gets
    /// each shard's gradient (computed from zero) and summed loss, in shard order — the same bits as
    /// <see cref="Accumulate"/> on that shard alone.
    /// </summary>
    public void Run<TSink>(Tensors<T> p, Activation act, ReadOnlySpan<int> tokens, ReadOnlySpan<SequenceRef> seqs,
        ReadOnlySpan<int> bounds, bool gradients, ref TSink sink, PackedParams<T>? packed = null, CarriedState<T> carry = default) where TSink : struct, IShardSink<T>
    {
        int shards = bounds.Length - 1;
        if (shards < 1 || bounds[0] != 0 || bounds[shards] != seqs.Length) throw new ArgumentException("bounds must run from 0 to the number of sequences");
        carry.Check(seqs.Length, p.Shape.StateSize);
        var pass = new Pass(Workspace<T>.Current, p.Shape, tokens, seqs, bounds, wide, carry);
        pass.PlanRows();
        if (pass.Rows == 0)
        {
            if (carry.IsCarried) carry.Initial.CopyTo(carry.Final);   // no step taken: s_T = s_0
            for (int j = 0; j < shards; j++) sink.OnShard(j, gradients ? pass.Ws.Grad(p.Shape) : null, 0, 0);
            return;
        }

        // Packed parameters (padding columns zero): the caller's (shared by several passes) or our own.
        if (packed is null) { packed = pass.Ws.Packed; packed.Pack(p, wide, gradients); }
        else if (packed.Source != p || packed.Wide != wide || packed.D != p.Shape.D || packed.K != p.Shape.K || (gradients && !packed.HasTransposes))
            throw new ArgumentException("the packed parameters were not packed from these parameters for this kernel");

        pass.Forward(packed, act);
        pass.FinalStates();
        pass.Output(packed);
        if (!gradients)
        {
            for (int j = 0; j < shards; j++) sink.OnShard(j, null, pass.Losses[j], pass.Chars[j]);
            return;
        }
        pass.Backward(packed, act);
        pass.WeightGradients(p.Shape, ref sink);
    }

    /// <summary>
    /// One call's state, phase by phase. A row is one (time step t, sequence) pair; the rows of step t are
    /// offset[t] .. offset[t] + count[t], in <c>order</c>. Every buffer lives in the thread's <see cref="Workspace{T}"/>.
    /// </summary>
    private ref struct Pass
    {
        public readonly Workspace<T> Ws;
        private readonly ReadOnlySpan<int> tokens;
        private readonly ReadOnlySpan<SequenceRef> seqs;
        private readonly ReadOnlySpan<int> bounds;
        private readonly bool wide;
        private readonly CarriedState<T> carry;   // default: every s_0 = 0 (then nothing is read or written)
        private readonly int d, k, sequences, shards;
        private readonly int dn, dp, kp;   // dn: computed columns of a d-wide row, dp: its stride; kp: computed columns and stride of a k-wide row

        private int[] order;     // sequences: row r of every step is sequence order[r] (longest first, stable)
        private int[] shardOf;   // sequences: shardOf[i] = the shard of sequence i
        private int[] count;     // tMax + 2: count[t] = sequences still running at step t; count[tMax + 1] = 0
        private int[] offset;    // tMax + 2: offset[t] = the first row of step t; offset[tMax + 1] = Rows
        private int[] rowX, rowTarget, rowSeq;   // Rows: row offset[t] + r's input x_t, target c_t and sequence
        public double[] Losses;  // shards: summed −log y_t[c_t]
        public long[] Chars;     // shards: predicted characters
        private bool equal;      // all sequences of the same length (no sort, one shard needs no gather)
        private int tMax, n1;    // the longest sequence; n1 = count[1] = sequences of length ≥ 1
        public int Rows;         // Σ lengths
        private T* S;            // (n1 + Rows) × dp: s_0 (n1 rows: zero, or the carried states in order), then s_t of row offset[t] + r at n1 + offset[t] + r
        private T* S1;           // Rows × dp: S past the s_0 block, s_t of row offset[t] + r at offset[t] + r
        private T* Z;            // Rows × kp: z_t = s_t V + c, then in place dz_t = y_t − onehot(c_t)
        private T* dS;           // Rows × dp: ds_t, then in place da_t = ds_t ⊙ σ'

        public Pass(Workspace<T> ws, ModelShape shape, ReadOnlySpan<int> tokens, ReadOnlySpan<SequenceRef> seqs, ReadOnlySpan<int> bounds, bool wide, CarriedState<T> carry)
        {
            Ws = ws; this.tokens = tokens; this.seqs = seqs; this.bounds = bounds; this.wide = wide; this.carry = carry;
            d = shape.D; k = shape.K; sequences = seqs.Length; shards = bounds.Length - 1;
            dn = Gemm<T>.Pad(d, wide); dp = Gemm<T>.Stride(d, wide); kp = Gemm<T>.Pad(k, wide);
            order = shardOf = count = offset = rowX = rowTarget = rowSeq = [];
            Losses = []; Chars = [];
        }

        /// <summary>Orders the sequences longest first (stably, so the rows still running at step t are a prefix), counts and places each step's rows.</summary>
        public void PlanRows()
        {
            order = Workspace<T>.Ensure(ref Ws.Order, sequences);
            shardOf = Workspace<T>.Ensure(ref Ws.ShardOf, sequences);
            tMax = 0;
            equal = true;
            for (int j = 0; j < shards; j++)
                for (int i = bounds[j]; i < bounds[j + 1]; i++)
                {
                    if (seqs[i].Length < 0) throw new ArgumentException("negative sequence length");
                    order[i] = i; shardOf[i] = j;
                    tMax = Math.Max(tMax, seqs[i].Length);
                    if (seqs[i].Length != seqs[0].Length) equal = false;
                }
            if (!equal) StableSortByLengthDesc(order.AsSpan(0, sequences), seqs);
            count = Workspace<T>.Ensure(ref Ws.Count, tMax + 2);
            offset = Workspace<T>.Ensure(ref Ws.Offset, tMax + 2);
            Rows = 0;
            for (int t = 1; t <= tMax; t++)
            {
                int n = 0;
                while (n < sequences && seqs[order[n]].Length >= t) n++;
                count[t] = n; offset[t] = Rows; Rows += n;
            }
            count[tMax + 1] = 0; offset[tMax + 1] = Rows;
            Losses = Workspace<T>.Ensure(ref Ws.Losses, shards);
            Chars = Workspace<T>.Ensure(ref Ws.Chars, shards);
            Losses.AsSpan(0, shards).Clear();
            Chars.AsSpan(0, shards).Clear();
            for (int i = 0; i < sequences; i++) Chars[shardOf[i]] += seqs[i].Length;
            if (Rows == 0) return;

            rowX = Workspace<T>.Ensure(ref Ws.RowX, Rows);
            rowTarget = Workspace<T>.Ensure(ref Ws.RowTarget, Rows);
            rowSeq = Workspace<T>.Ensure(ref Ws.RowSeq, Rows);
            for (int t = 1; t <= tMax; t++)
                for (int r = 0; r < count[t]; r++)
                {
                    int s = order[r], row = offset[t] + r;
                    rowX[row] = tokens[seqs[s].Start + t - 1];
                    rowTarget[row] = tokens[seqs[s].Start + t];
                    rowSeq[row] = s;
                }
        }

        /// <summary>A_t = X_t U + b + S_{t−1} W, S_t = σ(A_t), t = 1..tMax.</summary>
        public void Forward(PackedParams<T> packed, Activation act)
        {
            T* Wp = PackedParams<T>.P(packed.Wp), Up = PackedParams<T>.P(packed.Up), bp = PackedParams<T>.P(packed.Bp);
            n1 = count[1];
            S = Workspace<T>.Ptr(ref Ws.S, (long)(n1 + Rows) * dp);
            new Span<T>(S, n1 * dp).Clear();
            if (carry.IsCarried)
                for (int r = 0; r < n1; r++) carry.Initial.Slice(order[r] * d, d).CopyTo(new Span<T>(S + (long)r * dp, d));   // carried s_0
            for (int t = 1; t <= tMax; t++)
            {
                int n = count[t];
                T* st = S + (long)(n1 + offset[t]) * dp;
                for (int r = 0; r < n; r++) AddRows(Up + (long)rowX[offset[t] + r] * dp, bp, st + (long)r * dp, dp);   // a_t = x_t U + b
                if (t == 1 && carry.IsCarried) Gemm<T>.Run(S, dp, 1, Wp, dp, st, dp, n, dn, d, wide);                 // a_1 += s_0 W (carried)
                if (t > 1) Gemm<T>.Run(S + (long)(n1 + offset[t - 1]) * dp, dp, 1, Wp, dp, st, dp, n, dn, d, wide);    // a_t += s_{t−1} W
                DetVec.Activate(new Span<T>(st, n * dp), act);                                                   // s_t = σ(a_t)
            }
        }

        /// <summary>Carried states: each sequence's s_T (its last row; s_0 for an empty one) into <c>carry.Final</c>.</summary>
        public void FinalStates()
        {
            if (!carry.IsCarried) return;
            for (int r = 0; r < sequences; r++)
            {
                int i = order[r], length = seqs[i].Length;
                var final = carry.Final.Slice(i * d, d);
                if (length == 0) carry.Initial.Slice(i * d, d).CopyTo(final);
                else new ReadOnlySpan<T>(S + (long)(n1 + offset[length] + r) * dp, d).CopyTo(final);
            }
        }

        /// <summary>Z = S V + c for every row at once, then softmax, loss and dZ = Y − onehot fused per row.</summary>
        public void Output(PackedParams<T> packed)
        {
            T* Vp = PackedParams<T>.P(packed.Vp), cp = PackedParams<T>.P(packed.Cp);
            Z = Workspace<T>.Ptr(ref Ws.Z, (long)Rows * kp);
            for (int r = 0; r < Rows; r++) new Span<T>(cp, kp).CopyTo(new Span<T>(Z + (long)r * kp, kp));
            S1 = S + (long)n1 * dp;
            Gemm<T>.Run(S1, dp, 1, Vp, kp, Z, kp, Rows, kp, d, wide);
            var e = Workspace<T>.Ensure(ref Ws.E, k);   // k doubles: one row's exponentials
            for (int r = 0; r < Rows; r++)
                Losses[shardOf[rowSeq[r]]] += SoftmaxRow(new Span<T>(Z + (long)r * kp, kp), k, rowTarget[r], e);
        }

        /// <summary>dS = dZ Vᵀ for every row, then dS_t += dA_{t+1} Wᵀ and dA_t = dS_t ⊙ σ'(s_t), t = tMax..1.</summary>
        public void Backward(PackedParams<T> packed, Activation act)
        {
            T* Wt = PackedParams<T>.P(packed.Wt), Vt = PackedParams<T>.P(packed.Vt);
            dS = Workspace<T>.Ptr(ref Ws.DS, (long)Rows * dp);
            new Span<T>(dS, Rows * dp).Clear();
            Gemm<T>.Run(Z, kp, 1, Vt, dp, dS, dp, Rows, dn, k, wide);
            for (int t = tMax; t >= 1; t--)
            {
                T* dst = dS + (long)offset[t] * dp;
                if (t < tMax && count[t + 1] > 0) Gemm<T>.Run(dS + (long)offset[t + 1] * dp, dp, 1, Wt, dp, dst, dp, count[t + 1], dn, d, wide);
                ActivationGrad(dst, S + (long)(n1 + offset[t]) * dp, count[t] * dp, act);
            }
        }

        /// <summary>Per shard, over its own rows in (t, order) order: dW = Σ s_{t−1}ᵀ da_t, dV = Σ s_tᵀ dz_t, dU[x_t] += da_t, db += da_t, dc += dz_t.</summary>
        public void WeightGradients<TSink>(ModelShape shape, ref TSink sink) where TSink : struct, IShardSink<T>
        {
            T* dW = Workspace<T>.Ptr(ref Ws.DW, (long)d * dp);   // d × dp
            T* dV = Workspace<T>.Ptr(ref Ws.DV, (long)d * kp);   // d × kp
            for (int j = 0; j < shards; j++)
            {
                var shard = ShardRowsOf(j);
                var g = Ws.Grad(shape);
                if (shard.Count > 0)
                {
                    new Span<T>(dW, d * dp).Clear();
                    new Span<T>(dV, d * kp).Clear();
                    Gemm<T>.Run(shard.Prev, 1, dp, shard.A, dp, dW, dp, d, dn, shard.Count, wide);   // dW = Σ s_{t−1}ᵀ da_t
                    Gemm<T>.Run(shard.S, 1, dp, shard.Z, kp, dV, kp, d, kp, shard.Count, wide);      // dV = Σ s_tᵀ dz_t
                    UnpackRows(dW, dp, g.W, d, d);
                    UnpackRows(dV, kp, g.V, d, k);
                    var gU = g.U; var gb = g.B; var gc = g.C;
                    for (int r = 0; r < shard.Count; r++)
                    {
                        var da = new ReadOnlySpan<T>(shard.A + (long)r * dp, d);
                        AddInto(gU.Slice(shard.X[r] * d, d), da);                   // dU[x_t] += da_t
                        AddInto(gb, da);                                            // db += da_t
                        AddInto(gc, new ReadOnlySpan<T>(shard.Z + (long)r * kp, k)); // dc += dz_t
                    }
                }
                sink.OnShard(j, g, Losses[j], Chars[j]);
            }
        }

        /// <summary>Shard j's rows, contiguous: as they are for one shard of equal lengths, else gathered (copied) in (t, order) order.</summary>
        private ShardRows ShardRowsOf(int j)
        {
            // One shard of equal lengths: row r's s_{t−1} is row r of S (s_0 block first), no copy needed.
            if (shards == 1 && equal) return new ShardRows(Rows, S, S1, dS, Z, rowX.AsSpan(0, Rows));

            var sel = Workspace<T>.Ensure(ref Ws.Rows, Rows);
            int rs = 0;
            for (int r = 0; r < Rows; r++) if (shardOf[rowSeq[r]] == j) sel[rs++] = r;
            T* gPrev = Workspace<T>.Ptr(ref Ws.GPrev, (long)rs * dp);
            T* gS = Workspace<T>.Ptr(ref Ws.GS, (long)rs * dp);
            T* gA = Workspace<T>.Ptr(ref Ws.GA, (long)rs * dp);
            T* gZ = Workspace<T>.Ptr(ref Ws.GZ, (long)rs * kp);
            int q = 0;
            for (int t = 1; t <= tMax; t++)
                for (int r = 0; r < count[t]; r++)
                {
                    int row = offset[t] + r;
                    if (shardOf[rowSeq[row]] != j) continue;
                    var prev = t == 1 ? new Span<T>(S + (long)r * dp, dp) : new Span<T>(S + (long)(n1 + offset[t - 1] + r) * dp, dp);
                    prev.CopyTo(new Span<T>(gPrev + (long)q * dp, dp));
                    new Span<T>(S1 + (long)row * dp, dp).CopyTo(new Span<T>(gS + (long)q * dp, dp));
                    new Span<T>(dS + (long)row * dp, dp).CopyTo(new Span<T>(gA + (long)q * dp, dp));
                    new Span<T>(Z + (long)row * kp, kp).CopyTo(new Span<T>(gZ + (long)q * kp, kp));
                    q++;
                }
            for (int q2 = 0; q2 < rs; q2++) sel[q2] = rowX[sel[q2]];
            return new ShardRows(rs, gPrev, gS, gA, gZ, sel.AsSpan(0, rs));
        }
    }

    /// <summary>One shard's rows: Count × dp of s_{t−1} (Prev), s_t (S), da_t (A); Count × kp of dz_t (Z); the inputs x_t (X).</summary>
    private readonly ref struct ShardRows(int count, T* prev, T* s, T* a, T* z, ReadOnlySpan<int> x)
    {
        public readonly int Count = count;
        public readonly T* Prev = prev, S = s, A = a, Z = z;
        public readonly ReadOnlySpan<int> X = x;
    }

    /// <summary>
    /// In place: z (k logits, then padding) → dz = softmax(z) − onehot(target); returns −log y[target]. As
    /// <see cref="Softmax.FromLogits{T}"/> (double, DetMath exponentials) except that Σ e runs in four fixed
    /// lanes (Vector256 of double is four lanes on every host, in software too) then (l0+l1)+(l2+l3), then the tail.
    /// </summary>
    private static double SoftmaxRow(Span<T> z, int k, int target, double[] e)
    {
        var es = e.AsSpan(0, k);
        for (int i = 0; i < k; i++) es[i] = double.CreateTruncating(z[i]);
        double zTarget = es[target];
        int i4 = k & ~3, j = 0;
        var vmax = Vector256.Create(double.NegativeInfinity);
        for (; j < i4; j += 4) vmax = Vector256.Max(vmax, Vector256.Create<double>(es.Slice(j, 4)));
        double max = Math.Max(Math.Max(vmax[0], vmax[1]), Math.Max(vmax[2], vmax[3]));
        for (; j < k; j++) max = Math.Max(max, es[j]);
        var vm = Vector256.Create(max);
        for (j = 0; j < i4; j += 4) (Vector256.Create<double>(es.Slice(j, 4)) - vm).CopyTo(es.Slice(j, 4));
        for (; j < k; j++) es[j] -= max;
        DetVec.Exp(es);
        var vsum = Vector256<double>.Zero;
        for (j = 0; j < i4; j += 4) vsum += Vector256.Create<double>(es.Slice(j, 4));
        double sum = (vsum[0] + vsum[1]) + (vsum[2] + vsum[3]);
        for (j = i4; j < k; j++) sum += es[j];
        double inv = 1.0 / sum;
        for (int i = 0; i < k; i++) z[i] = T.CreateTruncating(es[i] * inv);
        z[target] -= T.One;
        z[k..].Clear();
        return Math.Log(sum) + max - zTarget;
    }

    /// <summary>da = ds ⊙ σ'(a), with σ' from the output s: 1 − s² (tanh), s(1 − s) (sigmoid); in place over ds.</summary>
    private static void ActivationGrad(T* ds, T* s, int n, Activation act)
    {
        int v = Vector256<T>.Count, i = 0;
        var one = Vector256.Create(T.One);
        if (act == Activation.Tanh)
        {
            for (; i + v <= n; i += v) { var sv = Vector256.Load(s + i); (Vector256.Load(ds + i) * (one - sv * sv)).Store(ds + i); }
            for (; i < n; i++) ds[i] = ds[i] * (T.One - s[i] * s[i]);
        }
        else
        {
            for (; i + v <= n; i += v) { var sv = Vector256.Load(s + i); (Vector256.Load(ds + i) * (sv * (one - sv))).Store(ds + i); }
            for (; i < n; i++) ds[i] = ds[i] * (s[i] * (T.One - s[i]));
        }
    }

    /// <summary>dst[0..n) = x[0..n) + y[0..n) (element-wise, so the same bits at any vector width).</summary>
    private static void AddRows(T* x, T* y, T* dst, int n)
    {
        int v = Vector256<T>.Count, i = 0;
        for (; i + v <= n; i += v) (Vector256.Load(x + i) + Vector256.Load(y + i)).Store(dst + i);
        for (; i < n; i++) dst[i] = x[i] + y[i];
    }

    /// <summary>dst += src element by element.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AddInto(Span<T> dst, ReadOnlySpan<T> src)
    {
        fixed (T* pd = dst) fixed (T* ps = src) AddRows(pd, ps, pd, src.Length);
    }

    private static void UnpackRows(T* src, int ld, Span<T> dst, int rowsN, int cols)
    {
        for (int i = 0; i < rowsN; i++) new ReadOnlySpan<T>(src + (long)i * ld, cols).CopyTo(dst.Slice(i * cols, cols));
    }

    private static void StableSortByLengthDesc(Span<int> order, ReadOnlySpan<SequenceRef> seqs)
    {
        // Insertion sort: stable, allocation-free, and batches are small.
        for (int i = 1; i < order.Length; i++)
        {
            int x = order[i], len = seqs[x].Length, j = i - 1;
            while (j >= 0 && seqs[order[j]].Length < len) { order[j + 1] = order[j]; j--; }
            order[j + 1] = x;
        }
    }
}
