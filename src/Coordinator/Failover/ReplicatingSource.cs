using System.Numerics;
using Akka.Actor;
using DistRnn.Coordinator.Checkpoints;
using DistRnn.Coordinator.Training;
using DistRnn.Compute;
using DistRnn.Model;
using DistRnn.Protocol;
using DistRnn.Reduction;

namespace DistRnn.Coordinator.Failover;

/// <summary>
/// The active coordinator's gradient source: the cluster's, plus replication. Before a step it hands a standby that
/// waits for the state the checkpoint of the step just completed (the loop is waiting on this call, so the session
/// holds still); after the workers' sum is in, it sends that sum to every attached standby and returns it only once
/// they acknowledged — so when the loop applies step s, the standby holds its sum and has applied step s − 1: the
/// state of every completed step lives on both. The cost is one copy of the sum and a round trip per step.
/// </summary>
public sealed class ReplicatingSource<T>(IGradientSource<T> cluster, TrainingSession<T> session, string runId, IActorRef replication,
    ReplicationStatus status, RunSettings? run) : IGradientSource<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public int Workers => cluster.Workers;

    public async Task<StepSum<T>> ComputeAsync(long step, Tensors<T> parameters, SequenceRef[] batch, StepCarry<T>? carry, CancellationToken ct)
    {
        if (status.WantsSnapshot) replication.Tell(new SnapshotReady(runId, session.Step, Checkpoint.Bytes(session, null, null, run)));
        var sum = await cluster.ComputeAsync(step, parameters, batch, carry, ct).ConfigureAwait(false);
        try
        {
            var s = sum.Sum;
            // a copy: the loop scales the sum in place, and the decision is serialized after this returns; with --state
            // carry the step's final states too, which the standby's loop carries on from as this one does
            var decision = new StepDecision(runId, step, s.Loss, s.Chars, cluster.Workers, TensorPayload.Wrap((T[])s.Grad.Data.Clone()),
                carry is null ? null : TensorPayload.Wrap((T[])carry.Final.Clone()));
            await replication.Ask<Replicated>(new Replicate(decision), null, ct).ConfigureAwait(false);
            return sum;
        }
        catch
        {
            sum.Dispose();
            throw;
        }
    }
}
