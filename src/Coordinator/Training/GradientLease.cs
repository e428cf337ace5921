using System.Numerics;

namespace DistRnn.Coordinator.Training;

/// <summary>
/// Gradient buffers of the model's size, reused from step to step (each is a large-object-heap array). A step
/// rents what it needs through a <see cref="GradientLease{T}"/>; the buffers come back when the lease is disposed —
/// by the training loop, once it has applied the step's sum — so their reuse follows from ownership, not from the
/// order of calls. Thread-safe: the step's actor rents, the training loop disposes.
/// </summary>
public sealed class GradientPool<T>(int count) where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly Stack<T[]> _free = new();

    public int Count { get; } = count;

    /// <summary>A lease for one step's buffers.</summary>
    public GradientLease<T> NewStep() => new(this);

    internal T[] Take()
    {
        lock (_free) return _free.Count > 0 ? _free.Pop() : new T[Count];
    }

    internal void Give(List<T[]> buffers)
    {
        lock (_free) foreach (var b in buffers) _free.Push(b);
    }
}

/// <summary>The buffers one step rented from a <see cref="GradientPool{T}"/>; disposing hands them all back (once).</summary>
public sealed class GradientLease<T> : IDisposable where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly GradientPool<T> _pool;
    private readonly List<T[]> _rented = new();
    private bool _disposed;

    internal GradientLease(GradientPool<T> pool) => _pool = pool;

    /// <summary>A buffer (old content undefined) owned by this lease until it is disposed.</summary>
    public T[] Rent()
    {
        var b = _pool.Take();
        lock (_rented)
        {
            if (_disposed) throw new ObjectDisposedException(nameof(GradientLease<T>));
            _rented.Add(b);
        }
        return b;
    }

    public void Dispose()
    {
        lock (_rented)
        {
            if (_disposed) return;
            _disposed = true;
        }
        _pool.Give(_rented);
    }
}
