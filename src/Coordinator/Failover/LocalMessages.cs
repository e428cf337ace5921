using Akka.Actor;
using DistRnn.Protocol;

namespace DistRnn.Coordinator.Failover;

// Between the training loop and the replication actors of the same process (never serialized).

/// <summary>The checkpoint bytes of the completed step <see cref="Step"/>, for the standbys that wait for the state.</summary>
public sealed record SnapshotReady(string RunId, long Step, byte[] Checkpoint) : INoSerializationVerificationNeeded;

/// <summary>Send this step's decision to the attached standbys; answered by <see cref="Replicated"/> once they all acked (or were dropped).</summary>
public sealed record Replicate(StepDecision Decision) : INoSerializationVerificationNeeded;

public sealed record Replicated(long Step, int Standbys) : INoSerializationVerificationNeeded;

/// <summary>The standby's loop asks for step <see cref="Step"/>'s decision; answered with the <see cref="StepDecision"/> once it is here.</summary>
public sealed record NextDecision(long Step) : INoSerializationVerificationNeeded;

/// <summary>Whether the standbys are waiting for a snapshot (set by the replication actor, read by the loop before each step).</summary>
public sealed class ReplicationStatus
{
    private volatile bool _wantsSnapshot;
    public bool WantsSnapshot => _wantsSnapshot;
    internal void Set(bool wants) => _wantsSnapshot = wants;
}

/// <summary>
/// This node took the run over (it was a standby): it holds run <see cref="RunId"/> from the step after
/// <see cref="Completed"/>; <see cref="Last"/> is that step's decision as it took it from the coordinator that is gone
/// (null when it had none since its snapshot). The replication actor answers resuming standbys from here on.
/// </summary>
public sealed record HoldsRun(string RunId, long Completed, StepDecision? Last) : INoSerializationVerificationNeeded;
