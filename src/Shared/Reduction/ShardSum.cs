using System.Numerics;
using DistRnn.Model;

namespace DistRnn.Reduction;

/// <summary>The sum over a subtree of shards: gradients of the summed loss, the summed loss, the predicted characters.</summary>
public sealed class ShardSum<T>(Tensors<T> grad, double loss, long chars) where T : unmanaged, IFloatingPointIeee754<T>
{
    public Tensors<T> Grad { get; } = grad;
    public double Loss { get; private set; } = loss;
    public long Chars { get; private set; } = chars;

    /// <summary>
    /// Parent = left + right, element by element, into <paramref name="left"/>'s buffer. This is the only way
    /// two sums are ever combined, so a node has the same bits whichever machine computed its children.
    /// </summary>
    public static ShardSum<T> Combine(ShardSum<T> left, ShardSum<T> right)
    {
        left.Grad.Add(right.Grad);
        left.Loss += right.Loss;
        left.Chars += right.Chars;
        return left;
    }
}
