using System.Numerics;

namespace DistRnn.Model;

/// <summary>
/// The readable kernel of every cell and depth (docs/cells.md): one sequence at a time, one layer at a time, loops
/// written as the equations. The oracle of the tests for the gated and stacked models, and the kernel training uses
/// for them (<see cref="Kernels.For{T}"/>); keep it simple rather than quick.
///
/// Forward, layer l = 1..L, t = 1..T (x^1_t the one-hot x_t; x^l_t = m^{l−1}_t ⊙ h^{l−1}_t above):
///   rnn:  h_t = σ(x_t Wx + h_{t−1} Wh + b)
///   lstm: [i f g o] = x_t Wx + h_{t−1} Wh + b;  c_t = σ(f) ⊙ c_{t−1} + σ(i) ⊙ tanh(g);  h_t = σ(o) ⊙ tanh(c_t)
///   gru:  [r z] = σ(x_t Wx[:, :2d] + bx[:2d] + h_{t−1} Wh[:, :2d] + bh[:2d]);
///         n = tanh(x_t Wx[:, 2d:] + bx[2d:] + r ⊙ (h_{t−1} Wh[:, 2d:] + bh[2d:]));  h_t = (1 − z) ⊙ n + z ⊙ h_{t−1}
///   y_t = softmax((m^L_t ⊙ h^L_t) V + c),  L = Σ_t −log y_t[c_t]
/// m^l_t is the dropout mask of layer l's output (<see cref="Dropout.Fill{T}"/>) in a pass that computes gradients
/// with p &gt; 0, and 1 otherwise (evaluation, sampling, loss-only passes).
///
/// Backward, layer by layer from the top: the error arriving at h^l_t from above (dz_t Vᵀ ⊙ m^L_t for the top,
/// dx^{l+1}_t ⊙ m^l_t below it) plus the one from h^l_{t+1}, then back through the cell, t = T..1, into dWx, dWh and
/// the biases, the error of h^l_{t−1} and that of the layer's input x^l_t.
/// </summary>
public sealed class CellKernel<T> : IShardKernel<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Dropout's p, applied when gradients are computed; 0 = none.</summary>
    public double DropoutRate { get; }

    public CellKernel(double dropout = 0)
    {
        if (!(dropout >= 0 && dropout < 1)) throw new ArgumentOutOfRangeException(nameof(dropout), "dropout must be in [0, 1)");
        DropoutRate = dropout;
    }

    public static readonly CellKernel<T> NoDropout = new();

    public double Accumulate(Tensors<T> p, Activation act, ReadOnlySpan<int> tokens, ReadOnlySpan<SequenceRef> seqs, Tensors<T> grad)
    {
        double loss = 0;
        foreach (var seq in seqs) loss += Sequence(p, act, tokens, seq, grad, DropoutRate);
        return loss;
    }

    public double Loss(Tensors<T> p, Activation act, ReadOnlySpan<int> tokens, ReadOnlySpan<SequenceRef> seqs)
    {
        double loss = 0;
        foreach (var seq in seqs) loss += Sequence(p, act, tokens, seq, null, 0);
        return loss;
    }

    /// <summary>Nothing to pack: the loops read the parameters as they are.</summary>
    public Fast.PackedParams<T>? Pack(Tensors<T> p, bool gradients, Fast.PackedParams<T>? into = null) => null;

    public void Run<TSink>(Tensors<T> p, Activation act, ReadOnlySpan<int> tokens, ReadOnlySpan<SequenceRef> seqs,
        ReadOnlySpan<int> bounds, bool gradients, ref TSink sink, Fast.PackedParams<T>? packed = null, CarriedState<T> carry = default) where TSink : struct, IShardSink<T>
    {
        double dropout = DropoutRate;
        ShardByShard.Run(p, act, tokens, seqs, bounds, gradients, ref sink, carry,
            (pp, a, tk, seq, g, c) => Sequence(pp, a, tk, seq, g, dropout, c));
    }

    /// <summary>
    /// One sequence's loss (and its gradient added into <paramref name="g"/> when given), from zero states or from the
    /// carried ones (h_0 and, lstm, c_0 of every layer: <see cref="ModelShape.StateSize"/>'s layout, held fixed: nothing
    /// flows back into them); the final h_T (and c_T) of every layer into the carried final state.
    /// </summary>
    private static double Sequence(Tensors<T> p, Activation act, ReadOnlySpan<int> tokens, SequenceRef seq, Tensors<T>? g, double dropout,
        CarriedState<T> carry = default)
    {
        var shape = p.Shape;
        int d = shape.D, k = shape.K, L = shape.Layers, len = seq.Length;
        bool drop = g is not null && dropout > 0;

        // Per layer: h[l] (T+1)×d with h_0 = 0 or the carried one, the cell's saved values act[l] (lstm: c_0 in row 0),
        // and the output mask m[l] (T×d).
        var h = new T[L][];
        var saved = new T[L][];
        var mask = new T[L][];
        for (int l = 0; l < L; l++)
        {
            h[l] = new T[(len + 1) * d];
            saved[l] = new T[(len + 1) * CellStep<T>.SavedWidth(shape)];
            mask[l] = new T[len * d];
            for (int t = 1; t <= len; t++)
            {
                var m = mask[l].AsSpan((t - 1) * d, d);
                if (drop) Dropout.Fill(seq.DropoutKey, l, t, dropout, m);
                else m.Fill(T.One);
            }
            if (carry.IsCarried)
            {
                carry.Initial.Slice(l * d, d).CopyTo(h[l]);
                if (shape.Cell == Cell.Lstm) carry.Initial.Slice((L + l) * d, d).CopyTo(saved[l].AsSpan(4 * d, d));
            }
        }

        // Forward, layer by layer; x[t−1] = the masked output of the layer below at t (layers above the first).
        var x = new T[len * d];
        for (int l = 0; l < L; l++)
        {
            for (int t = 1; t <= len; t++)
            {
                int token = tokens[seq.Start + t - 1];
                ReadOnlySpan<T> input = l == 0 ? default : x.AsSpan((t - 1) * d, d);
                CellStep<T>.Forward(p, act, l, token, input, h[l].AsSpan((t - 1) * d, d), h[l].AsSpan(t * d, d), saved[l], t);
            }
            for (int t = 1; t <= len; t++)
                for (int j = 0; j < d; j++) x[(t - 1) * d + j] = h[l][t * d + j] * mask[l][(t - 1) * d + j];
        }

        if (carry.IsCarried)
            for (int l = 0; l < L; l++)
            {
                h[l].AsSpan(len * d, d).CopyTo(carry.Final.Slice(l * d, d));
                if (shape.Cell == Cell.Lstm) saved[l].AsSpan(len * 5 * d + 4 * d, d).CopyTo(carry.Final.Slice((L + l) * d, d));
            }

        // Output layer on x = m^L ⊙ h^L.
        var y = new T[len * k];
        double loss = 0;
        for (int t = 1; t <= len; t++)
            loss += Softmax.FromState<T>(x.AsSpan((t - 1) * d, d), p.V, p.C, y.AsSpan((t - 1) * k, k), tokens[seq.Start + t]);
        if (g is null) return loss;

        // dz_t = y_t − onehot(c_t); dV += x_tᵀ dz_t; dc += dz_t; the error at the top layer's output: dh_t = (dz_t Vᵀ) ⊙ m^L_t.
        var V = p.V; var gV = g.V; var gc = g.C;
        var above = new T[len * d];   // the error arriving at h^l_t from above, row t−1
        for (int t = 1; t <= len; t++)
        {
            var dz = y.AsSpan((t - 1) * k, k);
            dz[tokens[seq.Start + t]] -= T.One;
            var xt = x.AsSpan((t - 1) * d, d);
            for (int j = 0; j < d; j++)
                for (int i = 0; i < k; i++) gV[j * k + i] += xt[j] * dz[i];
            for (int i = 0; i < k; i++) gc[i] += dz[i];
            for (int j = 0; j < d; j++)
            {
                T s = T.Zero;
                for (int i = 0; i < k; i++) s += V[j * k + i] * dz[i];
                above[(t - 1) * d + j] = s * mask[L - 1][(t - 1) * d + j];
            }
        }

        // Each layer from the top, t = T..1; the error of its input becomes the layer below's "above".
        var below = new T[len * d];
        for (int l = L - 1; l >= 0; l--)
        {
            var state = new CellStep<T>.Backward(shape);
            for (int t = len; t >= 1; t--)
            {
                int token = tokens[seq.Start + t - 1];
                ReadOnlySpan<T> input = l == 0 ? default : LayerInput(h[l - 1], mask[l - 1], t, d);
                Span<T> dInput = l == 0 ? default : below.AsSpan((t - 1) * d, d);
                state.Step(p, g, act, l, token, input, h[l].AsSpan((t - 1) * d, d), h[l].AsSpan(t * d, d), saved[l], t,
                    above.AsSpan((t - 1) * d, d), dInput);
            }
            if (l == 0) break;
            for (int i = 0; i < len * d; i++) above[i] = below[i] * mask[l - 1][i];
        }
        return loss;
    }

    /// <summary>x^l_t = m^{l−1}_t ⊙ h^{l−1}_t, recomputed (the same bits as in the forward pass).</summary>
    private static T[] LayerInput(T[] hBelow, T[] maskBelow, int t, int d)
    {
        var xt = new T[d];
        for (int j = 0; j < d; j++) xt[j] = hBelow[t * d + j] * maskBelow[(t - 1) * d + j];
        return xt;
    }
}

/// <summary>One sequence's loss (and its gradient added into <paramref name="g"/> when given), from its carried state or from zero.</summary>
public delegate double SequencePass<T>(Tensors<T> p, Activation act, ReadOnlySpan<int> tokens, SequenceRef seq, Tensors<T>? g, CarriedState<T> carry)
    where T : unmanaged, IFloatingPointIeee754<T>;

/// <summary>
/// The shard loop of the readable kernels (<see cref="PlainKernel{T}"/>, <see cref="CellKernel{T}"/>): shard after
/// shard, sequence after sequence, each shard into one zeroed scratch gradient handed to the sink (what
/// <see cref="IShardKernel{T}.Run{TSink}"/> asks), sequence i with the carried states' row i.
/// </summary>
public static class ShardByShard
{
    public static void Run<T, TSink>(Tensors<T> p, Activation act, ReadOnlySpan<int> tokens, ReadOnlySpan<SequenceRef> seqs,
        ReadOnlySpan<int> bounds, bool gradients, ref TSink sink, CarriedState<T> carry, SequencePass<T> sequence)
        where T : unmanaged, IFloatingPointIeee754<T> where TSink : struct, IShardSink<T>
    {
        int shards = bounds.Length - 1;
        if (shards < 1 || bounds[0] != 0 || bounds[shards] != seqs.Length) throw new ArgumentException("bounds must run from 0 to the number of sequences");
        int n = p.Shape.StateSize;
        carry.Check(seqs.Length, n);
        var grad = gradients ? new Tensors<T>(p.Shape) : null;
        for (int j = 0; j < shards; j++)
        {
            double loss = 0;
            long chars = 0;
            grad?.Clear();
            for (int i = bounds[j]; i < bounds[j + 1]; i++)
            {
                chars += seqs[i].Length;
                loss += sequence(p, act, tokens, seqs[i], grad, carry.Slice(i, 1, n));
            }
            sink.OnShard(j, grad, loss, chars);
        }
    }
}
