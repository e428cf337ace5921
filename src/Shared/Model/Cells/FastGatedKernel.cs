using System.Numerics;
using DistRnn.Model.Fast;

namespace DistRnn.Model;

/// <summary>
/// The kernel training uses for lstm and gru (any number of layers, with or without dropout): the maths of
/// <see cref="CellKernel{T}"/> (its oracle in the tests) organised for speed, still bit-reproducible on every host.
/// Below for lstm; gru's step keeps its x side and h side apart (A_t = bx + X_t Wx, B_t = bh + H_{t−1} Wh, as n needs
/// r ⊙ B_n), and its backward sends dH ⊙ z straight to H_{t−1}; the rnn cell (for stacked rnn models and rnn with
/// dropout; today's 1-layer model keeps <see cref="FastKernel{T}"/>) is H_t = σ(P_t), dA_t = dH_t ⊙ σ'. The products
/// are the same for all three.
///
/// All sequences of a call advance together, one time step at a time, as rows of matrices (rows still running at step t
/// are a prefix: the rows are ordered longest first, stably):
///   P_t = b + X_t Wx + H_{t−1} Wh       (r×4d; the first layer's X_t Wx is a row lookup; above it, b + X_t Wx
///                                        for all t of all sequences in one product before the recurrence)   Gemm
///   [i f g o] = σ, σ, tanh, σ of P_t's four blocks, vectorised DetMath (DetMath's bits)
///   C_t = f ⊙ C_{t−1} + i ⊙ g,  H_t = o ⊙ tanh(C_t),  the next layer's X_t = M_t ⊙ H_t     fused, one row at a time
///   Z = X_top V + c, softmax, loss, dZ = Y − onehot                          all rows in one product, Gemm
///   backward, per layer from the top, t = T..1: dH_t = from above + dA_{t+1} Whᵀ; dA_t from the cell; the layer
///   below's error dA_t Wxᵀ ⊙ M                                                               Gemm
///   per shard, its sequences one after another: dWh = Σ H_{t−1}ᵀ dA_t, dWx = Σ X_tᵀ dA_t (a row update for the
///   first layer), dV = Σ X_topᵀ dZ, db = Σ dA, dc = Σ dZ                   one Gemm over the shard's steps each
///
/// Determinism, as <see cref="FastKernel{T}"/>: every product element is one sequential FMA chain (<see cref="Gemm{T}"/>)
/// whose order depends only on its own sequence (the recurrence) or on its shard's sequences in their order (the weight
/// gradients), so a shard's gradient has the same bits alone or with other shards in one call, on any thread or host,
/// for any vector width. Dropout's masks are <see cref="Dropout.Fill{T}"/>'s, as the oracle's. Buffers are per thread and
/// reused: nothing is allocated per step once they have grown to the call's size.
/// </summary>
public sealed class FastGatedKernel<T> : IShardKernel<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly bool _wide;

    /// <summary>Dropout's p, applied when gradients are computed; 0 = none.</summary>
    public double DropoutRate { get; }

    /// <param name="wide">512-bit products where the hardware has them; the bits are the same either way</param>
    public FastGatedKernel(double dropout = 0, bool wide = true)
    {
        if (!(dropout >= 0 && dropout < 1)) throw new ArgumentOutOfRangeException(nameof(dropout), "dropout must be in [0, 1)");
        if (typeof(T) != typeof(float) && typeof(T) != typeof(double)) throw new NotSupportedException($"FastGatedKernel supports float and double, not {typeof(T).Name}");
        DropoutRate = dropout;
        _wide = wide && Gemm<T>.Wide;
    }

    public double Accumulate(Tensors<T> p, Activation act, ReadOnlySpan<int> tokens, ReadOnlySpan<SequenceRef> seqs, Tensors<T> grad)
    {
        var sink = new AddSink(grad);
        Run(p, act, tokens, seqs, [0, seqs.Length], gradients: true, ref sink);
        return sink.Loss;
    }

    public double Loss(Tensors<T> p, Activation act, ReadOnlySpan<int> tokens, ReadOnlySpan<SequenceRef> seqs)
    {
        var sink = new AddSink(null);
        Run(p, act, tokens, seqs, [0, seqs.Length], gradients: false, ref sink);
        return sink.Loss;
    }

    /// <summary>The weights are laid out per call (in the thread's buffers), so there is nothing to share.</summary>
    public PackedParams<T>? Pack(Tensors<T> p, bool gradients, PackedParams<T>? into = null) => null;

    private struct AddSink(Tensors<T>? grad) : IShardSink<T>
    {
        public double Loss;
        public void OnShard(int shard, Tensors<T>? g, double loss, long chars)
        {
            Loss += loss;
            if (g is not null) grad!.Add(g);
        }
    }

    [ThreadStatic] private static Scratch? t_scratch;

    /// <summary>Sequences per pass of a loss-only call.</summary>
    private const int MaxLossRows = 64;

    public void Run<TSink>(Tensors<T> p, Activation act, ReadOnlySpan<int> tokens, ReadOnlySpan<SequenceRef> seqs,
        ReadOnlySpan<int> bounds, bool gradients, ref TSink sink, PackedParams<T>? packed = null, CarriedState<T> carry = default) where TSink : struct, IShardSink<T>
    {
        var shape = p.Shape;
        if (!Enum.IsDefined(shape.Cell)) throw new ArgumentException($"unknown cell {shape.Cell}");
        int shards = bounds.Length - 1;
        if (shards < 1 || bounds[0] != 0 || bounds[shards] != seqs.Length) throw new ArgumentException("bounds must run from 0 to the number of sequences");
        int n = shape.StateSize;
        carry.Check(seqs.Length, n);
        if (seqs.Length == 0) { for (int j = 0; j < shards; j++) sink.OnShard(j, gradients ? Zero(shape) : null, 0, 0); return; }

        var s = t_scratch ??= new Scratch();
        if (!gradients)
        {
            // loss only (evaluation): at most MaxLossRows sequences at a time keep the buffers small; the loss is
            // summed per sequence in order either way
            for (int j = 0; j < shards; j++)
            {
                double loss = 0; long chars = 0;
                for (int from = bounds[j]; from < bounds[j + 1]; from += MaxLossRows)
                {
                    var part = seqs[from..Math.Min(from + MaxLossRows, bounds[j + 1])];
                    var pw = s.Prepare(p, part, _wide, gradients: false);
                    pw.Act = act;
                    var partCarry = carry.Slice(from, part.Length, n);
                    InitialStates(pw, partCarry);
                    Forward(p, pw, tokens, part, drop: false);
                    FinalStates(pw, partCarry);
                    Output(p, pw, tokens, part, gradients: false);
                    for (int i = 0; i < part.Length; i++) { loss += pw.RowLoss[pw.RowOf[i]]; chars += part[i].Length; }
                }
                sink.OnShard(j, null, loss, chars);
            }
            return;
        }
        var w = s.Prepare(p, seqs, _wide, gradients: true);
        w.Act = act;
        bool drop = DropoutRate > 0;
        InitialStates(w, carry);
        Forward(p, w, tokens, seqs, drop);
        FinalStates(w, carry);
        var rowLoss = w.RowLoss;
        Output(p, w, tokens, seqs, gradients: true);
        Backward(w, drop);
        var grad = s.Gradient(shape);
        for (int j = 0; j < shards; j++)
        {
            grad.Clear();
            double loss = 0; long chars = 0;
            // the shard's rows in the call's (stable, longest-first) order: the order they would have alone
            w.ShardRows.Clear();
            for (int i = bounds[j]; i < bounds[j + 1]; i++) { loss += rowLoss[w.RowOf[i]]; chars += seqs[i].Length; w.ShardRows.Add(w.RowOf[i]); }
            w.ShardRows.Sort();
            ShardGradient(w, tokens, seqs, grad);
            sink.OnShard(j, grad, loss, chars);
        }
    }

    private static Tensors<T> Zero(ModelShape shape) => new(shape);

    /// <summary>
    /// --state carry: row m's H_0 (and lstm C_0) of every layer from its sequence's carried state (layout
    /// <see cref="ModelShape.StateSize"/>: h of layers 1..L, then c of layers 1..L); reset leaves them 0.
    /// </summary>
    private static void InitialStates(Work w, CarriedState<T> carry)
    {
        w.Carried = carry.IsCarried;
        if (!carry.IsCarried) return;
        int d = w.D, dp = w.Dp, tm = w.Tm, L = w.L, n = carry.Initial.Length / Math.Max(1, w.R);
        for (int m = 0; m < w.R; m++)
        {
            var s0 = carry.Initial.Slice(w.SeqOf[m] * n, n);
            for (int l = 0; l < L; l++)
            {
                s0.Slice(l * d, d).CopyTo(w.H[l].AsSpan(m * (tm + 1) * dp, d));
                if (w.Cell == Cell.Lstm) s0.Slice((L + l) * d, d).CopyTo(w.C[l].AsSpan(m * (tm + 1) * dp, d));
            }
        }
    }

    /// <summary>--state carry: each sequence's H_T (and lstm C_T) of every layer, its last row (row 0 for an empty one), into its final state.</summary>
    private static void FinalStates(Work w, CarriedState<T> carry)
    {
        if (!carry.IsCarried) return;
        int d = w.D, dp = w.Dp, tm = w.Tm, L = w.L, n = carry.Final.Length / Math.Max(1, w.R);
        for (int m = 0; m < w.R; m++)
        {
            var sT = carry.Final.Slice(w.SeqOf[m] * n, n);
            int at = (m * (tm + 1) + w.Len[m]) * dp;
            for (int l = 0; l < L; l++)
            {
                w.H[l].AsSpan(at, d).CopyTo(sT.Slice(l * d, d));
                if (w.Cell == Cell.Lstm) w.C[l].AsSpan(at, d).CopyTo(sT.Slice((L + l) * d, d));
            }
        }
    }

    /// <summary>Forward through every layer; the top layer's masked output goes to <see cref="Work.Xtop"/>.</summary>
    private void Forward(Tensors<T> p, Work w, ReadOnlySpan<int> tokens, ReadOnlySpan<SequenceRef> seqs, bool drop)
    {
        int d = w.D, gp = w.Gp, dp = w.Dp, tm = w.Tm, L = w.L, R = w.R, gw = w.Gw;
        bool gru = w.Gru;
        for (int l = 0; l < L; l++)
        {
            var P = w.Gates[l]; var B = w.HSide[l]; var H = w.H[l]; var C = w.C[l]; var TC = w.TanhC[l];
            var X = l + 1 < L ? w.X[l + 1] : w.Xtop; // where this layer's masked output goes
            var M = w.Mask[l];
            var bias = w.Bias[l];
            // every step's P_t = b (+ the first layer's row of Wx) and, above the first layer, + X_t Wx: the input side
            // does not depend on the recurrence, so it is one product over all the layer's rows (each element's FMA
            // chain is the one a step at a time would run: the same bits)
            for (int m = 0; m < R; m++)
            {
                int len = w.Len[m];
                for (int t = 1; t <= len; t++)
                {
                    var row = P.AsSpan((m * tm + t - 1) * gp, gp);
                    if (l == 0)
                    {
                        int x = tokens[seqs[w.SeqOf[m]].Start + t - 1];
                        Elementwise.Sum<T>(bias.AsSpan(0, gp), w.Wx[0].AsSpan(x * gp, gp), row);
                    }
                    else bias.AsSpan(0, gp).CopyTo(row);
                    if (gru) w.BiasH[l].AsSpan(0, gp).CopyTo(B.AsSpan((m * tm + t - 1) * gp, gp));
                }
            }
            if (l > 0) Gemm<T>.Run(w.X[l], dp, 1, w.Wx[l], gp, P, gp, w.Rows, gp, d, _wide);
            for (int t = 1; t <= tm; t++)
            {
                int r = w.Active[t];
                // + H_{t−1} Wh; H_0 = 0 adds nothing unless carried
                if (t > 1 || w.Carried) Gemm<T>.RunPackedB(H.AsSpan((t - 1) * dp), (tm + 1) * dp, 1, w.WhPack[l].Span, (gru ? B : P).AsSpan((t - 1) * gp), tm * gp, r, gp, d, _wide);
                for (int m = 0; m < r; m++)
                {
                    var row = P.AsSpan((m * tm + t - 1) * gp, gp);
                    var h = H.AsSpan((m * (tm + 1) + t) * dp, d);
                    if (gru)
                    {
                        // r, z = σ(A + B) over 2d; n = tanh(A_n + r ⊙ B_n); h = (1 − z) ⊙ n + z ⊙ h_{t−1}
                        var hs = B.AsSpan((m * tm + t - 1) * gp, gp);
                        Elementwise.Sum<T>(row[..(2 * d)], hs[..(2 * d)], row[..(2 * d)]);
                        DetVec.Activate(row[..(2 * d)], Activation.Sigmoid);
                        Elementwise.GruCandidate(row, hs, d);
                        DetVec.Activate(row.Slice(2 * d, d), Activation.Tanh);
                        Elementwise.GruState(row, H.AsSpan((m * (tm + 1) + t - 1) * dp, d), h, d);
                        Emit(w, seqs, X, M, l, m, t, h, drop);
                        continue;
                    }
                    if (w.Cell == Cell.Rnn)
                    {
                        DetVec.Activate(row[..d], w.Act);
                        row[..d].CopyTo(h);
                        Emit(w, seqs, X, M, l, m, t, h, drop);
                        continue;
                    }
                    DetVec.Activate(row[..(2 * d)], Activation.Sigmoid);
                    DetVec.Activate(row.Slice(2 * d, d), Activation.Tanh);
                    DetVec.Activate(row.Slice(3 * d, d), Activation.Sigmoid);
                    var cPrev = C.AsSpan((m * (tm + 1) + t - 1) * dp, d);
                    var c = C.AsSpan((m * (tm + 1) + t) * dp, d);
                    var tc = TC.AsSpan((m * tm + t - 1) * dp, d);
                    Elementwise.LstmCell(row, cPrev, c, d);
                    c.CopyTo(tc);
                    DetVec.Activate(tc, Activation.Tanh);
                    Elementwise.Product(row.Slice(3 * d, d), tc, h);
                    Emit(w, seqs, X, M, l, m, t, h, drop);
                }
            }
        }
    }

    /// <summary>The layer's output as the next layer's (or the output layer's) input: M ⊙ h in training with dropout, else h.</summary>
    private void Emit(Work w, ReadOnlySpan<SequenceRef> seqs, T[] X, T[] M, int l, int m, int t, ReadOnlySpan<T> h, bool drop)
    {
        int d = w.D, at = (m * w.Tm + t - 1) * w.Dp;
        var x = X.AsSpan(at, d);
        if (!drop) { h.CopyTo(x); return; }
        var mask = M.AsSpan(at, d);
        Dropout.Fill(seqs[w.SeqOf[m]].DropoutKey, l, t, DropoutRate, mask);
        for (int j = 0; j < d; j++) x[j] = h[j] * mask[j];
    }

    /// <summary>Z = X_top V + c (one product over all rows), softmax and loss per sequence; with gradients, dZ = Y − onehot in Z's place.</summary>
    private void Output(Tensors<T> p, Work w, ReadOnlySpan<int> tokens, ReadOnlySpan<SequenceRef> seqs, bool gradients)
    {
        int k = w.K, kp = w.Kp, d = w.D, dp = w.Dp, tm = w.Tm;
        var Z = w.Z; var c = p.C;
        for (int m = 0; m < w.R; m++)
        {
            var seq = seqs[w.SeqOf[m]];
            int len = seq.Length;
            for (int t = 0; t < len; t++) c.CopyTo(Z.AsSpan((m * tm + t) * kp, k));
        }
        Gemm<T>.Run(w.Xtop, dp, 1, w.V, kp, Z, kp, w.Rows, kp, d, _wide);
        for (int m = 0; m < w.R; m++)
        {
            var seq = seqs[w.SeqOf[m]];
            int len = seq.Length;
            double loss = 0;
            for (int t = 0; t < len; t++)
            {
                int target = tokens[seq.Start + t + 1];
                var z = Z.AsSpan((m * tm + t) * kp, k);
                loss += Softmax.FromLogits(z, target);
                if (gradients) z[target] -= T.One;
            }
            w.RowLoss[m] = loss;
        }
    }

    /// <summary>Every layer's dA_t (in its gates' place), from the top.</summary>
    private void Backward(Work w, bool drop)
    {
        int d = w.D, dp = w.Dp, gp = w.Gp, kp = w.Kp, tm = w.Tm, L = w.L, gw = w.Gw;
        bool gru = w.Gru;
        var above = w.Above; var below = w.Below;
        // the top layer's error from the output: (dZ Vᵀ) ⊙ M_top
        Array.Clear(above, 0, w.R * tm * dp);
        Gemm<T>.Run(w.Z, kp, 1, w.VT, dp, above, dp, w.Rows, dp, w.K, _wide);
        if (drop) MultiplyMask(above, w.Mask[L - 1], w);

        for (int l = L - 1; l >= 0; l--)
        {
            var G = w.Gates[l]; var B = w.HSide[l]; var C = w.C[l]; var TC = w.TanhC[l]; var H = w.H[l];
            var dh = w.DH; var dc = w.DC;
            Array.Clear(dh, 0, w.R * dp); Array.Clear(dc, 0, w.R * dp);
            if (l > 0) Array.Clear(below, 0, w.R * tm * dp);
            for (int t = tm; t >= 1; t--)
            {
                int r = w.Active[t];
                if (gru) GruBackStep(w, G, B, H, above, dh, t, r);
                else if (w.Cell == Cell.Rnn)
                    for (int m = 0; m < r; m++)
                    {
                        var g = G.AsSpan((m * tm + t - 1) * gp, d);  // h_t, then dA_t = (from above + dH) ⊙ σ'(h_t)
                        var up = above.AsSpan((m * tm + t - 1) * dp, d);
                        var dhm = dh.AsSpan(m * dp, d);
                        for (int j = 0; j < d; j++) g[j] = (up[j] + dhm[j]) * w.Act.DerivativeFromOutput(g[j]);
                    }
                else for (int m = 0; m < r; m++)
                {
                    var g = G.AsSpan((m * tm + t - 1) * gp, gp);
                    var cPrev = C.AsSpan((m * (tm + 1) + t - 1) * dp, d);
                    var tc = TC.AsSpan((m * tm + t - 1) * dp, d);
                    var up = above.AsSpan((m * tm + t - 1) * dp, d);
                    Elementwise.LstmBack(g, cPrev, tc, up, dh.AsSpan(m * dp, d), dc.AsSpan(m * dp, d), d);
                }
                // dH_{t−1} from the recurrence: dA_t Whᵀ (gru: dB_t Whᵀ added to the dH ⊙ z GruBackStep left there)
                if (!gru) Array.Clear(dh, 0, r * dp);
                if (t > 1) Gemm<T>.RunPackedB((gru ? B : G).AsSpan((t - 1) * gp), tm * gp, 1, w.WhTPack[l].Span, dh, dp, r, dp, gw, _wide);
            }
            if (l > 0)
            {
                // the layer below's error dA_t Wxᵀ for every step of every sequence at once, once all dA_t are known
                // (the same chains as a step at a time)
                Gemm<T>.Run(G, gp, 1, w.WxT[l], dp, below, dp, w.Rows, dp, gw, _wide);
                if (drop) MultiplyMask(below, w.Mask[l - 1], w);
                (above, below) = (below, above);
            }
        }
        w.Above = above; w.Below = below;
    }

    /// <summary>
    /// gru's step t backwards for the running rows: dA (x side) into A's place, dB (h side) into B's, and dH ⊙ z,
    /// the part of dH_{t−1} that skips the products, into <paramref name="dh"/>.
    /// </summary>
    private static void GruBackStep(Work w, T[] A, T[] B, T[] H, T[] above, T[] dh, int t, int r)
    {
        int d = w.D, dp = w.Dp, gp = w.Gp, tm = w.Tm;
        for (int m = 0; m < r; m++)
        {
            var a = A.AsSpan((m * tm + t - 1) * gp, gp);
            var b = B.AsSpan((m * tm + t - 1) * gp, gp);
            var hPrev = H.AsSpan((m * (tm + 1) + t - 1) * dp, d);
            var up = above.AsSpan((m * tm + t - 1) * dp, d);
            Elementwise.GruBack(a, b, hPrev, up, dh.AsSpan(m * dp, d), d);
        }
    }

    private static void MultiplyMask(T[] e, T[] mask, Work w)
    {
        for (int m = 0; m < w.R; m++)
            for (int t = 0; t < w.Len[m]; t++)
            {
                int at = (m * w.Tm + t) * w.Dp;
                for (int j = 0; j < w.D; j++) e[at + j] *= mask[at + j];
            }
    }

    /// <summary>
    /// One shard's gradient into <paramref name="grad"/> (cleared), its sequences in order (<see cref="Work.ShardRows"/>):
    /// each weight gradient is one product whose depth runs over the shard's sequences one after another (a segment per
    /// sequence), the chains those of a product per sequence in turn. Where a padded row is the gradient's own row (4d
    /// and 3d are multiples of the tile's width for the usual sizes), the product writes straight into the gradient.
    /// </summary>
    private void ShardGradient(Work w, ReadOnlySpan<int> tokens, ReadOnlySpan<SequenceRef> seqs, Tensors<T> grad)
    {
        int d = w.D, dp = w.Dp, gp = w.Gp, kp = w.Kp, k = w.K, tm = w.Tm, L = w.L, gw = w.Gw;
        var rows = w.ShardRows;
        var segs = w.Segments(rows.Count);
        var gV = w.GV; var gc = grad.C;
        Array.Clear(gV, 0, d * kp);
        // dV = Σ X_topᵀ dZ, dc = Σ dZ
        for (int i = 0; i < rows.Count; i++)
        {
            int m = rows[i], len = w.Len[m];
            segs[i] = new(m * tm * dp, m * tm * kp, len);
            for (int t = 0; t < len; t++)
            {
                var dz = w.Z.AsSpan((m * tm + t) * kp, k);
                for (int j = 0; j < k; j++) gc[j] += dz[j];
            }
        }
        Gemm<T>.RunSegments(w.Xtop, 1, dp, w.Z, kp, gV, kp, d, kp, segs, _wide);
        var V = grad.V;
        for (int j = 0; j < d; j++) gV.AsSpan(j * kp, k).CopyTo(V.Slice(j * k, k));

        bool direct = gw == gp;
        for (int l = 0; l < L; l++)
        {
            var G = w.Gates[l]; var H = w.H[l];
            var hSide = w.Gru ? w.HSide[l] : G;  // what Wh's products saw: gru's dB, lstm's dA
            // dWh = Σ_t H_{t−1}ᵀ dA_t (H_0 = 0 contributes nothing, exactly; a carried H_0 does, held fixed)
            for (int i = 0; i < rows.Count; i++)
            {
                int m = rows[i], len = w.Len[m];
                segs[i] = w.Carried ? new(m * (tm + 1) * dp, m * tm * gp, len) : new((m * (tm + 1) + 1) * dp, (m * tm + 1) * gp, len - 1);
            }
            var gWh = direct ? grad.Wh(l) : Cleared(w.GWh, d * gp).AsSpan(0, d * gp);
            Gemm<T>.RunSegments(H, 1, dp, hSide, gp, gWh, gp, d, gp, segs, _wide);
            if (!direct) Unpad(w.GWh, grad.Wh(l), d, gw, gp);
            // dWx = Σ_t X_tᵀ dA_t: a product above the first layer, a row update per step for it
            if (l > 0)
            {
                for (int i = 0; i < rows.Count; i++)
                {
                    int m = rows[i];
                    segs[i] = new(m * tm * dp, m * tm * gp, w.Len[m]);
                }
                var gWx = direct ? grad.Wx(l) : Cleared(w.GWx, d * gp).AsSpan(0, d * gp);
                Gemm<T>.RunSegments(w.X[l], 1, dp, G, gp, gWx, gp, d, gp, segs, _wide);
                if (!direct) Unpad(w.GWx, grad.Wx(l), d, gw, gp);
            }
            var gWx0 = grad.Wx(0); var gb = grad.Bias(l);
            foreach (int m in rows)
            {
                int len = w.Len[m];
                var dA = G.AsSpan(m * tm * gp);
                var dB = hSide.AsSpan(m * tm * gp);
                if (l == 0)
                {
                    var seq = seqs[w.SeqOf[m]];
                    for (int t = 0; t < len; t++)
                    {
                        int x = tokens[seq.Start + t];
                        var into = gWx0.Slice(x * gw, gw);
                        Elementwise.Sum<T>(into, dA.Slice(t * gp, gw), into);
                    }
                }
                for (int t = 0; t < len; t++) Elementwise.Sum<T>(gb, dA.Slice(t * gp, gw), gb);
                if (w.Gru)
                {
                    var gbh = grad.BiasH(l);
                    for (int t = 0; t < len; t++) Elementwise.Sum<T>(gbh, dB.Slice(t * gp, gw), gbh);
                }
            }
        }
    }

    /// <summary><paramref name="a"/> with its first <paramref name="n"/> values set to 0.</summary>
    private static T[] Cleared(T[] a, long n) { Array.Clear(a, 0, (int)n); return a; }

    /// <summary>rows × ld (padded) into rows × cols.</summary>
    private static void Unpad(T[] from, Span<T> into, int rows, int cols, int ld)
    {
        for (int i = 0; i < rows; i++) from.AsSpan(i * ld, cols).CopyTo(into.Slice(i * cols, cols));
    }

    /// <summary>The call's sizes and buffers (views of the thread's <see cref="Scratch"/>).</summary>
    private sealed class Work
    {
        public int D, Dp, Gp, Gw, K, Kp, Tm, L, R;
        /// <summary>
        /// Rows the products over every step of every sequence cover: up to the last sequence's last step. The rows past
        /// a shorter sequence's end lie in between and are computed too; an output row's chains read only its own row
        /// of A, so the real rows' bits are those of a product per sequence, and nothing reads the others.
        /// </summary>
        public int Rows;
        public bool Gru, Carried;
        public Cell Cell;
        public Activation Act;
        public int[] SeqOf = [], RowOf = [], Len = [], Active = [];
        public double[] RowLoss = [];
        public readonly List<int> ShardRows = new();
        private Gemm<T>.Segment[] _segments = [];

        /// <summary>n segments of a product over a shard's sequences (reused).</summary>
        public Span<Gemm<T>.Segment> Segments(int n)
        {
            if (_segments.Length < n) _segments = new Gemm<T>.Segment[Math.Max(n, 2 * _segments.Length)];
            return _segments.AsSpan(0, n);
        }
        public T[][] Wx = [], WxT = [], Bias = [], BiasH = [];
        /// <summary>Wh and Whᵀ (padded) as Gemm packs B (<see cref="Gemm{T}.PackAllB(ReadOnlySpan{T}, int, int, int, bool, Span{T})"/>), once per call: the recurrence's product at every step reads them.</summary>
        public Memory<T>[] WhPack = [], WhTPack = [];
        public T[] V = [], VT = [];
        public T[][] Gates = [], HSide = [], H = [], C = [], TanhC = [], X = [], Mask = [];
        public T[] Xtop = [], Z = [], Above = [], Below = [], DH = [], DC = [], GV = [], GWh = [], GWx = [];
    }

    /// <summary>A thread's buffers, grown to the largest call seen and reused.</summary>
    private sealed class Scratch
    {
        private readonly Work _w = new();
        private readonly Dictionary<(string Name, int Layer), T[]> _buffers = new();   // keyed without formatting a name per call (no allocation per step)
        private Tensors<T>? _grad;

        private T[] Buffer(string name, long size) => Buffer(name, -1, size);

        private T[] Buffer(string name, int layer, long size)
        {
            if (!_buffers.TryGetValue((name, layer), out var b) || b.Length < size) _buffers[(name, layer)] = b = new T[size];
            return b;
        }

        /// <summary>
        /// A pinned buffer of at least <paramref name="size"/> values that starts on a 64-byte boundary (a packed panel's
        /// vector loads then never straddle a cache line; only the speed depends on it).
        /// </summary>
        private Memory<T> Aligned(string name, int layer, long size)
        {
            if (!_buffers.TryGetValue((name, layer), out var b) || b.Length < size + Gemm<T>.AlignPad)
                _buffers[(name, layer)] = b = GC.AllocateUninitializedArray<T>((int)(size + Gemm<T>.AlignPad), pinned: true);
            return b.AsMemory(Gemm<T>.AlignSkip(b), (int)size);
        }

        private int[] Ints(ref int[] a, int size) => a.Length >= size ? a : a = new int[size];

        public Tensors<T> Gradient(ModelShape shape) => _grad is { } g && g.Shape == shape ? g : _grad = new Tensors<T>(shape);

        public Work Prepare(Tensors<T> p, ReadOnlySpan<SequenceRef> seqs, bool wide, bool gradients)
        {
            var shape = p.Shape;
            var w = _w;
            int d = shape.D, k = shape.K, L = shape.Layers, R = seqs.Length, gw = shape.GateWidth;
            w.D = d; w.K = k; w.L = L; w.R = R; w.Gw = gw; w.Gru = shape.Cell == Cell.Gru; w.Cell = shape.Cell;
            w.Dp = Gemm<T>.Pad(d, wide); w.Gp = Gemm<T>.Pad(gw, wide); w.Kp = Gemm<T>.Pad(k, wide);
            int dp = w.Dp, gp = w.Gp, kp = w.Kp;

            // rows: longest first, stably (so a shard's rows keep their relative order in any call)
            Ints(ref w.SeqOf, R); Ints(ref w.RowOf, R); Ints(ref w.Len, R);
            for (int i = 0; i < R; i++) w.SeqOf[i] = i;
            var keys = seqs;
            int[] order = w.SeqOf;
            InsertionSortByLength(order, R, keys);
            int tm = 0;
            for (int m = 0; m < R; m++) { w.RowOf[order[m]] = m; w.Len[m] = seqs[order[m]].Length; tm = Math.Max(tm, w.Len[m]); }
            w.Tm = tm;
            w.Rows = R == 0 ? 0 : (R - 1) * tm + w.Len[R - 1];
            Ints(ref w.Active, tm + 2);
            for (int t = 0; t <= tm; t++) { int r = 0; while (r < R && w.Len[r] >= t) r++; w.Active[t] = r; }
            if (w.RowLoss.Length < R) w.RowLoss = new double[R];

            // the weights, padded: Wx_l (n×Gp), Wh_l (d×Gp, kept packed), their transposes (4d×Dp) for the backward pass, V (d×Kp), Vᵀ (k×Dp)
            if (w.Wx.Length != L)
            {
                w.Wx = new T[L][]; w.WxT = new T[L][]; w.Bias = new T[L][]; w.BiasH = new T[L][];
                w.WhPack = new Memory<T>[L]; w.WhTPack = new Memory<T>[L];
                w.Gates = new T[L][]; w.HSide = new T[L][]; w.H = new T[L][]; w.C = new T[L][]; w.TanhC = new T[L][]; w.X = new T[L][]; w.Mask = new T[L][];
            }
            for (int l = 0; l < L; l++)
            {
                int n = shape.LayerInput(l);
                w.Wx[l] = PadRows(Buffer("wx", l, (long)n * gp), p.Wx(l), n, gw, gp);
                var wh = PadRows(Buffer("wh", l, (long)d * gp), p.Wh(l), d, gw, gp);
                w.WhPack[l] = Aligned("whpack", l, Gemm<T>.PackedBLength(gp, d));
                Gemm<T>.PackAllB(wh, gp, gp, d, wide, w.WhPack[l].Span);
                w.Bias[l] = Cleared(Buffer("b", l, gp), gp);
                p.Bias(l).CopyTo(w.Bias[l]);
                if (w.Gru)
                {
                    w.BiasH[l] = Cleared(Buffer("bh", l, gp), gp);
                    p.BiasH(l).CopyTo(w.BiasH[l]);
                    w.HSide[l] = Buffer("hs", l, (long)R * tm * gp);
                }
                if (gradients)
                {
                    var whT = Transpose(Buffer("wht", l, (long)gw * dp), p.Wh(l), d, gw, dp);
                    w.WhTPack[l] = Aligned("whtpack", l, Gemm<T>.PackedBLength(dp, gw));
                    Gemm<T>.PackAllB(whT, dp, dp, gw, wide, w.WhTPack[l].Span);
                    if (l > 0) w.WxT[l] = Transpose(Buffer("wxt", l, (long)gw * dp), p.Wx(l), d, gw, dp);
                }
                w.Gates[l] = Buffer("g", l, (long)R * tm * gp);
                w.H[l] = Cleared(Buffer("h", l, (long)R * (tm + 1) * dp), (long)R * (tm + 1) * dp);
                w.C[l] = Cleared(Buffer("c", l, (long)R * (tm + 1) * dp), (long)R * (tm + 1) * dp);
                w.TanhC[l] = Buffer("tc", l, (long)R * tm * dp);
                w.X[l] = l == 0 ? [] : Cleared(Buffer("x", l, (long)R * tm * dp), (long)R * tm * dp);
                w.Mask[l] = Buffer("m", l, (long)R * tm * dp);
            }
            w.V = PadRows(Buffer("v", (long)d * kp), p.V, d, k, kp);
            if (gradients) w.VT = Transpose(Buffer("vt", (long)k * dp), p.V, d, k, dp);
            w.Xtop = Cleared(Buffer("xtop", (long)R * tm * dp), (long)R * tm * dp);
            w.Z = Cleared(Buffer("z", (long)R * tm * kp), (long)R * tm * kp);
            w.Above = Buffer("above", (long)R * tm * dp); w.Below = Buffer("below", (long)R * tm * dp);
            w.DH = Buffer("dh", (long)R * dp); w.DC = Buffer("dc", (long)R * dp);
            w.GV = Buffer("gv", (long)d * kp); w.GWh = Buffer("gwh", (long)d * gp); w.GWx = Buffer("gwx", (long)d * gp);
            return w;
        }

        private static void InsertionSortByLength(int[] order, int n, ReadOnlySpan<SequenceRef> seqs)
        {
            for (int i = 1; i < n; i++)
            {
                int v = order[i], j = i - 1;
                while (j >= 0 && seqs[order[j]].Length < seqs[v].Length) { order[j + 1] = order[j]; j--; }
                order[j + 1] = v;
            }
        }

        /// <summary>rows×cols row-major into rows×ld (padding columns 0).</summary>
        private static T[] PadRows(T[] into, ReadOnlySpan<T> m, int rows, int cols, int ld)
        {
            for (int i = 0; i < rows; i++)
            {
                m.Slice(i * cols, cols).CopyTo(into.AsSpan(i * ld, cols));
                into.AsSpan(i * ld + cols, ld - cols).Clear();
            }
            return into;
        }

        /// <summary>The transpose of rows×cols as cols×ld (padding columns 0).</summary>
        private static T[] Transpose(T[] into, ReadOnlySpan<T> m, int rows, int cols, int ld)
        {
            // by 16×16 blocks, so that both the rows read and the rows written stay in cache
            const int Block = 16;
            for (int j0 = 0; j0 < cols; j0 += Block)
            {
                int j1 = Math.Min(cols, j0 + Block);
                for (int i0 = 0; i0 < rows; i0 += Block)
                {
                    int i1 = Math.Min(rows, i0 + Block);
                    unsafe
                    {
                        // pointers: the bounds checks cost as much as the copy (only the speed depends on it)
                        fixed (T* src = m, dst = into)
                            for (int j = j0; j < j1; j++)
                            {
                                T* to = dst + (long)j * ld, from = src + j;
                                for (int i = i0; i < i1; i++) to[i] = from[(long)i * cols];
                            }
                    }
                }
                for (int j = j0; j < j1; j++) into.AsSpan(j * ld + rows, ld - rows).Clear();
            }
            return into;
        }
    }
}
