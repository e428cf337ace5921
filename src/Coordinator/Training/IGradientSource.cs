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

    /// <summary>
    /// The step's root sum; its buffers belong to the returned <see cref="StepSum{T}"/> until the caller disposes it (after the update).
    /// With <paramref name="carry"/> (--state carry, <see cref="TrainingSession{T}.CarryFor"/>) every sequence starts from its
    /// initial state, and each one's final state is in <see cref="StepCarry{T}.Final"/> when the task completes.
    /// </summary>
    Task<StepSum<T>> ComputeAsync(long step, Tensors<T> parameters, SequenceRef[] batch, StepCarry<T>? carry, CancellationToken ct);
}

/// <summary>
/// A step's reduced sum and the lease on its buffers: the training loop applies <see cref="Sum"/> and then disposes
/// this, which hands the buffers back to whoever pooled them — so their reuse follows from ownership, not from the
/// order in which steps are asked for.
/// </summary>
public sealed class StepSum<T>(ShardSum<T> sum, IDisposable? lease) : IDisposable where T : unmanaged, IFloatingPointIeee754<T>
{
    public ShardSum<T> Sum { get; } = sum;

    public void Dispose() => lease?.Dispose();
}

/// <summary>
/// The plain single-process loop: every shard on the compute engine's threads, then the fixed tree. Disposing the
/// returned sum hands its buffers back to the engine.
/// </summary>
public sealed class LocalGradientSource<T>(SubtreeComputer<T> computer, Activation act, int[] tokens, int shardCount)
    : IGradientSource<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public int Workers => 0;

    public async Task<StepSum<T>> ComputeAsync(long step, Tensors<T> parameters, SequenceRef[] batch, StepCarry<T>? carry, CancellationToken ct)
    {
        var sum = await computer.ComputeAsync(step, parameters, act, tokens, batch, shardCount, Subtree.Root(shardCount), ct, carry).ConfigureAwait(false);
        return new StepSum<T>(sum, computer.LeaseOf(step));
    }
}
