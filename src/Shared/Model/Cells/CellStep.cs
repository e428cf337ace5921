using System.Numerics;

namespace DistRnn.Model;

/// <summary>
/// One time step of one layer of each cell, forward and backward, as written in docs/cells.md. The input x_t is the
/// one-hot token for the first layer (row <c>token</c> of Wx) and a dense d-vector above. σ and tanh are
/// <see cref="DetMath"/>'s, computed in double and rounded once to T.
/// </summary>
public static class CellStep<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>
    /// Values saved per time step for the backward pass (row t of a (T+1)-row array): rnn none (h_t is enough);
    /// lstm i, f, g, o (after their nonlinearity) and c_t (row 0: c_0 = 0); gru r, z, n and hn = h_{t−1} Wh_n + bh_n.
    /// </summary>
    public static int SavedWidth(ModelShape shape) => shape.Cell switch { Cell.Lstm => 5 * shape.D, Cell.Gru => 4 * shape.D, _ => 0 };

    private static T Sigmoid(T a) => Activation.Sigmoid.Apply(a);
    private static T Tanh(T a) => Activation.Tanh.Apply(a);

    /// <summary>h_t of layer <paramref name="l"/> from x_t and h_{t−1}; the cell's values go to row t of <paramref name="saved"/>.</summary>
    public static void Forward(Tensors<T> p, Activation act, int l, int token, ReadOnlySpan<T> input, ReadOnlySpan<T> hPrev, Span<T> h, T[] saved, int t)
    {
        var shape = p.Shape;
        int d = shape.D, gw = shape.GateWidth;
        Span<T> ax = gw <= 1024 ? stackalloc T[gw] : new T[gw];   // x_t Wx + b (gru: + bx)
        Span<T> ah = gw <= 1024 ? stackalloc T[gw] : new T[gw];   // h_{t−1} Wh (gru: + bh)
        InputProducts(p, l, token, input, hPrev, ax, ah);

        switch (shape.Cell)
        {
            case Cell.Rnn:
                for (int j = 0; j < d; j++) h[j] = act.Apply(ax[j] + ah[j]);
                break;
            case Cell.Lstm:
            {
                var row = saved.AsSpan(t * 5 * d, 5 * d);
                var cPrev = saved.AsSpan((t - 1) * 5 * d + 4 * d, d);
                for (int j = 0; j < d; j++)
                {
                    T i = Sigmoid(ax[j] + ah[j]);
                    T f = Sigmoid(ax[d + j] + ah[d + j]);
                    T g = Tanh(ax[2 * d + j] + ah[2 * d + j]);
                    T o = Sigmoid(ax[3 * d + j] + ah[3 * d + j]);
                    T c = f * cPrev[j] + i * g;
                    row[j] = i; row[d + j] = f; row[2 * d + j] = g; row[3 * d + j] = o; row[4 * d + j] = c;
                    h[j] = o * Tanh(c);
                }
                break;
            }
            case Cell.Gru:
            {
                var row = saved.AsSpan(t * 4 * d, 4 * d);
                for (int j = 0; j < d; j++)
                {
                    T r = Sigmoid(ax[j] + ah[j]);
                    T z = Sigmoid(ax[d + j] + ah[d + j]);
                    T hn = ah[2 * d + j];
                    T n = Tanh(ax[2 * d + j] + r * hn);
                    row[j] = r; row[d + j] = z; row[2 * d + j] = n; row[3 * d + j] = hn;
                    h[j] = (T.One - z) * n + z * hPrev[j];
                }
                break;
            }
        }
    }

    /// <summary>ax = x_t Wx + b (gru: bx) and ah = h_{t−1} Wh (gru: + bh), each G·d wide.</summary>
    private static void InputProducts(Tensors<T> p, int l, int token, ReadOnlySpan<T> input, ReadOnlySpan<T> hPrev, Span<T> ax, Span<T> ah)
    {
        var shape = p.Shape;
        int d = shape.D, gw = shape.GateWidth;
        var Wx = p.Wx(l); var Wh = p.Wh(l); var b = p.Bias(l);
        for (int j = 0; j < gw; j++)
        {
            T a = b[j];
            if (l == 0) a += Wx[token * gw + j];
            else for (int i = 0; i < d; i++) a += input[i] * Wx[i * gw + j];
            ax[j] = a;
        }
        var bh = shape.Cell == Cell.Gru ? p.BiasH(l) : default;
        for (int j = 0; j < gw; j++)
        {
            T a = shape.Cell == Cell.Gru ? bh[j] : T.Zero;
            for (int i = 0; i < d; i++) a += hPrev[i] * Wh[i * gw + j];
            ah[j] = a;
        }
    }

    /// <summary>
    /// The top layer's h_t inside a carried state (<see cref="ModelShape.StateSize"/> values: h of layers 1..L, then
    /// for lstm c of layers 1..L, d each).
    /// </summary>
    public static ReadOnlySpan<T> Top(ModelShape shape, ReadOnlySpan<T> state) => state.Slice((shape.Layers - 1) * shape.D, shape.D);

    /// <summary>
    /// One time step of every layer for inference (no dropout): <paramref name="state"/> from
    /// <paramref name="statePrev"/> (layout: <see cref="Top"/>) and the one-hot input <paramref name="token"/>.
    /// </summary>
    public static void Infer(Tensors<T> p, Activation act, int token, ReadOnlySpan<T> statePrev, Span<T> state)
    {
        var shape = p.Shape;
        int d = shape.D, L = shape.Layers;
        int width = SavedWidth(shape);
        var saved = new T[2 * width];        // row 0: c_{t−1} (lstm), row 1: this step's values
        for (int l = 0; l < L; l++)
        {
            if (shape.Cell == Cell.Lstm) statePrev.Slice((L + l) * d, d).CopyTo(saved.AsSpan(4 * d, d));
            ReadOnlySpan<T> input = l == 0 ? default : state.Slice((l - 1) * d, d);
            Forward(p, act, l, token, input, statePrev.Slice(l * d, d), state.Slice(l * d, d), saved, 1);
            if (shape.Cell == Cell.Lstm) saved.AsSpan(width + 4 * d, d).CopyTo(state.Slice((L + l) * d, d));
        }
    }

    /// <summary>The backward pass through one layer, t = T..1: what flows from step t+1 back to step t.</summary>
    public sealed class Backward(ModelShape shape)
    {
        private readonly T[] _dhNext = new T[shape.D];  // ∂L/∂h_t coming from step t+1 (through h_t's use there)
        private readonly T[] _dcNext = new T[shape.D];  // lstm: ∂L/∂c_t coming from step t+1
        private readonly T[] _dax = new T[shape.GateWidth]; // ∂L/∂(x_t Wx + b), gru: ∂L/∂(x_t Wx + bx)
        private readonly T[] _dah = new T[shape.GateWidth]; // ∂L/∂(h_{t−1} Wh), gru: ∂L/∂(h_{t−1} Wh + bh)
        private readonly T[] _dh = new T[shape.D];

        /// <summary>
        /// Step t of layer <paramref name="l"/>: adds into <paramref name="g"/>, writes ∂L/∂x_t into
        /// <paramref name="dInput"/> (layers above the first) and keeps ∂L/∂h_{t−1} (and ∂L/∂c_{t−1}) for step t−1.
        /// <paramref name="dAbove"/>: the error arriving at h_t from above (the output layer or the next layer).
        /// </summary>
        public void Step(Tensors<T> p, Tensors<T> g, Activation act, int l, int token, ReadOnlySpan<T> input, ReadOnlySpan<T> hPrev,
            ReadOnlySpan<T> h, T[] saved, int t, ReadOnlySpan<T> dAbove, Span<T> dInput)
        {
            int d = shape.D, gw = shape.GateWidth;
            var dh = _dh; var dax = _dax; var dah = _dah;
            for (int j = 0; j < d; j++) dh[j] = dAbove[j] + _dhNext[j];

            switch (shape.Cell)
            {
                case Cell.Rnn:
                    for (int j = 0; j < d; j++) dax[j] = dah[j] = dh[j] * act.DerivativeFromOutput(h[j]);
                    break;
                case Cell.Lstm:
                {
                    var row = saved.AsSpan(t * 5 * d, 5 * d);
                    var cPrev = saved.AsSpan((t - 1) * 5 * d + 4 * d, d);
                    for (int j = 0; j < d; j++)
                    {
                        T i = row[j], f = row[d + j], gg = row[2 * d + j], o = row[3 * d + j], c = row[4 * d + j];
                        T tc = Tanh(c);
                        T dc = dh[j] * o * (T.One - tc * tc) + _dcNext[j];
                        T dO = dh[j] * tc;
                        dax[j] = dc * gg * i * (T.One - i);
                        dax[d + j] = dc * cPrev[j] * f * (T.One - f);
                        dax[2 * d + j] = dc * i * (T.One - gg * gg);
                        dax[3 * d + j] = dO * o * (T.One - o);
                        _dcNext[j] = dc * f;
                    }
                    dax.AsSpan().CopyTo(dah);
                    break;
                }
                case Cell.Gru:
                {
                    var row = saved.AsSpan(t * 4 * d, 4 * d);
                    for (int j = 0; j < d; j++)
                    {
                        T r = row[j], z = row[d + j], n = row[2 * d + j], hn = row[3 * d + j];
                        T dan = dh[j] * (T.One - z) * (T.One - n * n);     // ∂L/∂(n's pre-activation)
                        dax[j] = dah[j] = dan * hn * r * (T.One - r);     // r's pre-activation
                        dax[d + j] = dah[d + j] = dh[j] * (hPrev[j] - n) * z * (T.One - z);
                        dax[2 * d + j] = dan;
                        dah[2 * d + j] = dan * r;
                    }
                    break;
                }
            }

            var Wx = p.Wx(l); var Wh = p.Wh(l);
            var gWx = g.Wx(l); var gWh = g.Wh(l); var gb = g.Bias(l);
            if (l == 0) for (int j = 0; j < gw; j++) gWx[token * gw + j] += dax[j];
            else
                for (int i = 0; i < d; i++)
                    for (int j = 0; j < gw; j++) gWx[i * gw + j] += input[i] * dax[j];
            for (int i = 0; i < d; i++)
                for (int j = 0; j < gw; j++) gWh[i * gw + j] += hPrev[i] * dah[j];
            for (int j = 0; j < gw; j++) gb[j] += dax[j];
            if (shape.Cell == Cell.Gru)
            {
                var gbh = g.BiasH(l);
                for (int j = 0; j < gw; j++) gbh[j] += dah[j];
            }

            for (int i = 0; i < d; i++)
            {
                T s = shape.Cell == Cell.Gru ? dh[i] * ZAt(saved, t, d, i) : T.Zero;
                for (int j = 0; j < gw; j++) s += Wh[i * gw + j] * dah[j];
                _dhNext[i] = s;
            }
            if (l > 0)
                for (int i = 0; i < d; i++)
                {
                    T s = T.Zero;
                    for (int j = 0; j < gw; j++) s += Wx[i * gw + j] * dax[j];
                    dInput[i] = s;
                }
        }

        /// <summary>gru's z at step t, unit i: h_t = … + z ⊙ h_{t−1} sends dh ⊙ z straight to h_{t−1}.</summary>
        private static T ZAt(T[] saved, int t, int d, int i) => saved[t * 4 * d + d + i];
    }
}
