using System.Numerics;
using DistRnn.Compute;
using DistRnn.Model;
using DistRnn.Reduction;

namespace DistRnn.Coordinator.Training;

/// <summary>
/// Where a step's reduced gradient comes from: this process (<see cref="LocalGradientSource{T}"/>) or the
/// cluster's workers. Either way the result is the fixed-tree sum over the step's shards, so the bits agree.
/// </summary>
public interface IGradientSource<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Workers currently computing (0 for the single-process loop).</summary>
    int Workers { get; }

    Task<ShardSum<T>> ComputeAsync(long step, Tensors<T> parameters, SequenceRef[] batch, CancellationToken ct);
}

/// <summary>
/// The plain single-process loop: every shard on the compute engine's threads, then the fixed tree. The returned
/// sum's gradient buffer is reused once a later step is asked for (the loop consumes each step's sum before that).
/// </summary>
public sealed class LocalGradientSource<T>(SubtreeComputer<T> computer, Activation act, int[] tokens, int shardCount)
    : IGradientSource<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public int Workers => 0;

    public Task<ShardSum<T>> ComputeAsync(long step, Tensors<T> parameters, SequenceRef[] batch, CancellationToken ct) =>
        computer.ComputeAsync(step, parameters, act, tokens, batch, shardCount, Subtree.Root(shardCount), ct);
}
