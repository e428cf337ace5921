using System.Numerics;

namespace DistRnn.Model;

/// <summary>
/// The readable kernel: one sequence at a time, loops written as the lecture's equations.
/// It is the oracle the fast kernel is tested against; keep it simple rather than quick.
///
///   a_t = x_t U + s_{t−1} W + b          (x_t one-hot, so x_t U is row x_t of U)
///   s_t = σ(a_t)                          s_t: d
///   z_t = s_t V + c,  y_t = softmax(z_t)  z_t, y_t: k
///   L   = Σ_t −log y_t[c_t]
///
/// Backward, t = T..1:  dz_t = y_t − onehot(c_t);  ds_t = dz_t Vᵀ + da_{t+1} Wᵀ;  da_t = ds_t ⊙ σ'(a_t);
///   dV += s_tᵀ dz_t, dc += dz_t, dU[x_t] += da_t, dW += s_{t−1}ᵀ da_t, db += da_t.
/// </summary>
public sealed class PlainKernel<T> : IShardKernel<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static readonly PlainKernel<T> Instance = new();

    public double Accumulate(Tensors<T> p, Activation act, ReadOnlySpan<int> tokens, ReadOnlySpan<SequenceRef> seqs, Tensors<T> grad)
    {
        double loss = 0;
        foreach (var seq in seqs) loss += Sequence(p, act, tokens, seq, grad);
        return loss;
    }

    public double Loss(Tensors<T> p, Activation act, ReadOnlySpan<int> tokens, ReadOnlySpan<SequenceRef> seqs)
    {
        double loss = 0;
        foreach (var seq in seqs) loss += Sequence(p, act, tokens, seq, null);
        return loss;
    }

    /// <summary>Nothing to pack: the loops read the parameters as they are.</summary>
    public Fast.PackedParams<T>? Pack(Tensors<T> p, bool gradients, Fast.PackedParams<T>? into = null) => null;

    /// <summary>Shard after shard, each into one zeroed scratch gradient handed to the sink (<see cref="ShardByShard"/>).</summary>
    public void Run<TSink>(Tensors<T> p, Activation act, ReadOnlySpan<int> tokens, ReadOnlySpan<SequenceRef> seqs,
        ReadOnlySpan<int> bounds, bool gradients, ref TSink sink, Fast.PackedParams<T>? packed = null, CarriedState<T> carry = default) where TSink : struct, IShardSink<T> =>
        ShardByShard.Run(p, act, tokens, seqs, bounds, gradients, ref sink, carry, Sequence);

    /// <summary>One sequence's loss (and gradient into <paramref name="g"/>), from s_0 = 0 or from the carried s_0, its s_T into the carried final state.</summary>
    private static double Sequence(Tensors<T> p, Activation act, ReadOnlySpan<int> tokens, SequenceRef seq, Tensors<T>? g, CarriedState<T> carry = default)
    {
        int d = p.Shape.D, k = p.Shape.K, length = seq.Length;
        var U = p.U; var W = p.W; var V = p.V; var b = p.B; var c = p.C;

        var s = new T[(length + 1) * d];   // s[t] = s_t, row t; s_0 = 0, or the carried state
        var y = new T[length * k];         // y[t−1] = y_t
        double loss = 0;
        if (carry.IsCarried) carry.Initial.CopyTo(s);

        for (int t = 1; t <= length; t++)
        {
            int x = tokens[seq.Start + t - 1], target = tokens[seq.Start + t];
            var sPrev = s.AsSpan((t - 1) * d, d);
            var sT = s.AsSpan(t * d, d);
            for (int j = 0; j < d; j++)
            {
                T a = U[x * d + j] + b[j];
                for (int i = 0; i < d; i++) a += sPrev[i] * W[i * d + j];
                sT[j] = act.Apply(a);
            }
            var yT = y.AsSpan((t - 1) * k, k);
            loss += Softmax.FromState(sT, V, c, yT, target);
        }
        if (carry.IsCarried) s.AsSpan(length * d, d).CopyTo(carry.Final);
        if (g is null) return loss;

        var gU = g.U; var gW = g.W; var gV = g.V; var gb = g.B; var gc = g.C;
        var daNext = new T[d];
        var da = new T[d];
        var dz = new T[k];
        for (int t = length; t >= 1; t--)
        {
            int x = tokens[seq.Start + t - 1], target = tokens[seq.Start + t];
            var sT = s.AsSpan(t * d, d);
            var sPrev = s.AsSpan((t - 1) * d, d);
            y.AsSpan((t - 1) * k, k).CopyTo(dz);
            dz[target] -= T.One;

            for (int j = 0; j < d; j++)
                for (int i = 0; i < k; i++) gV[j * k + i] += sT[j] * dz[i];
            for (int i = 0; i < k; i++) gc[i] += dz[i];

            for (int j = 0; j < d; j++)
            {
                T ds = T.Zero;
                for (int i = 0; i < k; i++) ds += V[j * k + i] * dz[i];
                for (int i = 0; i < d; i++) ds += W[j * d + i] * daNext[i];
                da[j] = ds * act.DerivativeFromOutput(sT[j]);
            }
            for (int j = 0; j < d; j++)
            {
                gU[x * d + j] += da[j];
                gb[j] += da[j];
            }
            for (int i = 0; i < d; i++)
                for (int j = 0; j < d; j++) gW[i * d + j] += sPrev[i] * da[j];
            da.AsSpan().CopyTo(daNext);
        }
        return loss;
    }
}
