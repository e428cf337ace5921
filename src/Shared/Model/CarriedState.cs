using System.Numerics;

namespace DistRnn.Model;

/// <summary>
/// Truncated BPTT's states across a kernel call's boundary (<c>train --state carry</c>): sequence i of the call starts
/// from s_0 = <see cref="Initial"/>[i·StateSize ..] (held fixed: no gradient flows into it, the window boundary stops
/// backpropagation) and the kernel writes its final state s_T into <see cref="Final"/>[i·StateSize ..].
/// <c>default</c> is <c>--state reset</c>: every sequence from s_0 = 0 and nothing written (the lecture's BPTT).
/// StateSize is <see cref="ModelShape.StateSize"/>.
/// </summary>
public readonly ref struct CarriedState<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public CarriedState(ReadOnlySpan<T> initial, Span<T> final)
    {
        if (initial.Length != final.Length) throw new ArgumentException("the initial and final states must have the same size");
        Initial = initial; Final = final; IsCarried = true;
    }

    /// <summary>sequences × StateSize: each sequence's s_0.</summary>
    public ReadOnlySpan<T> Initial { get; }
    /// <summary>sequences × StateSize: each sequence's s_T, written by the kernel.</summary>
    public Span<T> Final { get; }
    /// <summary>False for <c>default</c> (every s_0 = 0, the reset mode's code path and bits).</summary>
    public bool IsCarried { get; }

    /// <summary>The states of sequences [<paramref name="first"/>, first + count).</summary>
    public CarriedState<T> Slice(int first, int count, int stateSize) =>
        IsCarried ? new(Initial.Slice(first * stateSize, count * stateSize), Final.Slice(first * stateSize, count * stateSize)) : default;

    /// <summary>Throws unless there are exactly <paramref name="sequences"/> rows of <paramref name="stateSize"/>.</summary>
    public void Check(int sequences, int stateSize)
    {
        if (IsCarried && Initial.Length != (long)sequences * stateSize)
            throw new ArgumentException($"carried states of {Initial.Length} values for {sequences} sequences of state size {stateSize}");
    }
}
