using System.Numerics;
using Akka.Actor;
using DistRnn.Model;
using DistRnn.Training;

namespace DistRnn.Cluster;

/// <summary>
/// The cluster as the training loop's gradient source: asks the coordinator actor for the step's root sum.
/// The batch itself is not sent — every worker rebuilds it from (seed, step) — so only the step number and
/// a snapshot of the parameters travel. The returned sum's buffers are reused by the coordinator for the
/// next step: use (apply) it before asking for the next one, as <see cref="Trainer{T}"/> does.
/// </summary>
public sealed class ClusterGradientSource<T>(IActorRef coordinator, ClusterStatus status) : IGradientSource<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    public int Workers => status.Workers;

    public async Task<ShardSum<T>> ComputeAsync(long step, Tensors<T> parameters, SequenceRef[] batch, CancellationToken ct)
    {
        // A snapshot: messages may still be serialized after the step (late backups), and the coordinator may
        // recompute a suspect subtree with it, while the optimiser already writes the next parameters into the live array.
        var snapshot = parameters.Clone();
        var reply = await coordinator.Ask<StepCompleted<T>>(new RunStep<T>(step, snapshot), null, ct).ConfigureAwait(false);
        if (reply.Step != step) throw new InvalidOperationException($"asked for step {step}, got step {reply.Step}");
        return reply.Sum;
    }
}
