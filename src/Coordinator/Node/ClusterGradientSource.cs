using System.Numerics;
using Akka.Actor;
using DistRnn.Coordinator.Training;
using DistRnn.Model;
using DistRnn.Reduction;

namespace DistRnn.Coordinator.Node;

/// <summary>
/// The cluster as the training loop's gradient source: asks the coordinator actor for the step's root sum.
/// The batch itself is not sent — every worker rebuilds it from (seed, step) — so only the step number and
/// a snapshot of the parameters travel. The returned sum's buffers are reused by the coordinator for the
/// next step: use (apply) it before asking for the next one, as <see cref="Trainer{T}"/> does.
/// </summary>
public sealed class ClusterGradientSource<T>(IActorRef coordinator, ClusterStatus status) : IGradientSource<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly Tensors<T>?[] _snapshots = new Tensors<T>?[2];

    public int Workers => status.Workers;

    public async Task<StepSum<T>> ComputeAsync(long step, Tensors<T> parameters, SequenceRef[] batch, Compute.StepCarry<T>? carry, CancellationToken ct)
    {
        Diagnostics.StepTimeline.Mark(step, Diagnostics.StepPoint.Asked);
        // A snapshot, not the live array, which the optimiser writes while messages of the step may still be
        // serialized (late backups, duplicates). Two alternate: a step's snapshot is overwritten two steps later,
        // when whatever of that step is still on its way is stale (refused by its step number, whatever it holds).
        // The coordinator copies it for the rare work that may outlive its step (recomputing a suspect subtree).
        var slot = _snapshots[step & 1];
        if (slot is null || slot.Shape != parameters.Shape) _snapshots[step & 1] = slot = new Tensors<T>(parameters.Shape);
        parameters.Data.AsSpan().CopyTo(slot.Data);
        var reply = await coordinator.Ask<StepCompleted<T>>(new RunStep<T>(step, slot, batch, carry), null, ct).ConfigureAwait(false);
        if (reply.Step != step) throw new InvalidOperationException($"asked for step {step}, got step {reply.Step}");
        Diagnostics.StepTimeline.Mark(step, Diagnostics.StepPoint.Answered);
        return new StepSum<T>(reply.Sum, reply.Lease);
    }
}
