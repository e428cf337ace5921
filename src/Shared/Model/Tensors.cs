using System.Numerics;

namespace DistRnn.Model;

/// <summary>
/// The tensors of the model (or of a gradient) as views into one flat vector (layout: <see cref="ModelShape"/>), so optimisers,
/// clipping, hashing and the wire treat them as one array while the maths reads them by name.
/// </summary>
public sealed class Tensors<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public ModelShape Shape { get; }
    public T[] Data { get; }

    public Tensors(ModelShape shape) : this(shape, new T[shape.Count]) { }

    public Tensors(ModelShape shape, T[] data)
    {
        if (data.Length != shape.Count)
            throw new ArgumentException($"expected {shape.Count} values for {shape}, got {data.Length}");
        Shape = shape;
        Data = data;
    }

    /// <summary>U: k×d, row x is the input weight of character x (the first layer's Wx).</summary>
    public Span<T> U => Data.AsSpan(Shape.UOffset, Shape.K * Shape.D);
    /// <summary>W: d×d, the recurrent weight.</summary>
    public Span<T> W => Data.AsSpan(Shape.WOffset, Shape.D * Shape.D);
    /// <summary>V: d×k, the output weight.</summary>
    public Span<T> V => Data.AsSpan(Shape.VOffset, Shape.D * Shape.K);
    /// <summary>b: d, the state bias.</summary>
    public Span<T> B => Data.AsSpan(Shape.BOffset, Shape.D);
    /// <summary>c: k, the output bias.</summary>
    public Span<T> C => Data.AsSpan(Shape.COffset, Shape.K);

    /// <summary>Wx of layer <paramref name="l"/> (0-based; rnn: U): n_l×G·d.</summary>
    public Span<T> Wx(int l) => Data.AsSpan(Shape.InWeightOffset(l), Shape.LayerInput(l) * Shape.GateWidth);
    /// <summary>Wh of layer <paramref name="l"/> (rnn: W): d×G·d.</summary>
    public Span<T> Wh(int l) => Data.AsSpan(Shape.RecWeightOffset(l), Shape.D * Shape.GateWidth);
    /// <summary>b of layer <paramref name="l"/> (gru: bx): G·d.</summary>
    public Span<T> Bias(int l) => Data.AsSpan(Shape.BiasOffset(l), Shape.GateWidth);
    /// <summary>gru's bh of layer <paramref name="l"/>: 3d.</summary>
    public Span<T> BiasH(int l) => Shape.Cell == Cell.Gru ? Data.AsSpan(Shape.BiasHOffset(l), Shape.GateWidth) : throw new InvalidOperationException("only gru has bh");

    public Tensors<T> Clone() => new(Shape, (T[])Data.Clone());

    public void Clear() => Array.Clear(Data);

    /// <summary>this += other, element by element in index order (deterministic).</summary>
    public void Add(Tensors<T> other)
    {
        var a = Data; var o = other.Data;
        if (o.Length != a.Length) throw new ArgumentException("shape mismatch");
        int i = 0;
        if (Vector.IsHardwareAccelerated && (typeof(T) == typeof(float) || typeof(T) == typeof(double)))
            for (int n = Vector<T>.Count; i + n <= a.Length; i += n) (new Vector<T>(a, i) + new Vector<T>(o, i)).CopyTo(a, i);
        for (; i < a.Length; i++) a[i] += o[i];
    }

    /// <summary>True when no value is NaN or infinite (x − x is +0 exactly for every finite x, NaN for the others).</summary>
    public bool AllFinite()
    {
        var a = Data;
        int i = 0;
        if (Vector.IsHardwareAccelerated && (typeof(T) == typeof(float) || typeof(T) == typeof(double)))
            for (int n = Vector<T>.Count; i + n <= a.Length; i += n)
            {
                var v = new Vector<T>(a, i);
                if (!Vector.EqualsAll(v - v, Vector<T>.Zero)) return false;
            }
        for (; i < a.Length; i++) if (!T.IsFinite(a[i])) return false;
        return true;
    }
}
