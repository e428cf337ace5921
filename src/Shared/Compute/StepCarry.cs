using System.Numerics;
using DistRnn.Model;

namespace DistRnn.Compute;

/// <summary>
/// A step's carried states with <c>--state carry</c>, for its whole batch (sequences × <see cref="ModelShape.StateSize"/>
/// each): <see cref="Initial"/>, every sequence's s_0 (part of the step's plan: whoever computes a shard, or recomputes
/// it, starts from these), and <see cref="Final"/>, where each sequence's s_T is gathered. A null StepCarry is
/// <c>--state reset</c>.
/// </summary>
public sealed class StepCarry<T>(T[] initial, T[] final, int stateSize) where T : unmanaged, IFloatingPointIeee754<T>
{
    public T[] Initial { get; } = initial;
    public T[] Final { get; } = final;
    public int StateSize { get; } = stateSize;
    public int Sequences => Initial.Length / StateSize;

    public static StepCarry<T> For(int sequences, int stateSize) => new(new T[sequences * stateSize], new T[sequences * stateSize], stateSize);

    /// <summary>The kernel's view of sequences [<paramref name="first"/>, first + count).</summary>
    public CarriedState<T> Slice(int first, int count) =>
        new(Initial.AsSpan(first * StateSize, count * StateSize), Final.AsSpan(first * StateSize, count * StateSize));

    /// <summary>The final states of sequences [<paramref name="first"/>, first + count).</summary>
    public Span<T> FinalOf(int first, int count) => Final.AsSpan(first * StateSize, count * StateSize);
}
