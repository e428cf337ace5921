using System.Numerics;
using Akka.Actor;
using DistRnn.Coordinator.Training;
using DistRnn.Model;
using DistRnn.Protocol;
using DistRnn.Reduction;
using DistRnn.Transport.DataChannel;

namespace DistRnn.Coordinator.Node;

// Messages between the training loop and the actors of the same process. They never cross the wire (and
// are exempt from serialize-messages): they carry live objects.

/// <summary>
/// Compute step <see cref="Step"/> with these parameters over the training loop's <see cref="Batch"/> (the plan the
/// workers rebuild from (seed, step): it tells the coordinator what each subtree must hold); answered by
/// <see cref="StepCompleted{T}"/> or a failure. <see cref="Carry"/> (--state carry): the batch's initial states, and where
/// the final states are gathered before the answer.
/// </summary>
public sealed record RunStep<T>(long Step, Tensors<T> Parameters, SequenceRef[] Batch, Compute.StepCarry<T>? Carry = null) : INoSerializationVerificationNeeded
    where T : unmanaged, IFloatingPointIeee754<T>;

/// <summary>The step's root sum, reduced in the fixed tree order; its buffers are the <see cref="Lease"/>'s until the loop disposes it.</summary>
public sealed record StepCompleted<T>(long Step, ShardSum<T> Sum, GradientLease<T> Lease) : INoSerializationVerificationNeeded
    where T : unmanaged, IFloatingPointIeee754<T>;

/// <summary>Answer <see cref="WorkersReady"/> once at least <see cref="Minimum"/> workers are registered.</summary>
public sealed record AwaitWorkers(int Minimum) : INoSerializationVerificationNeeded;

public sealed record WorkersReady(int Workers) : INoSerializationVerificationNeeded;

/// <summary>Tell every worker the run is over and answer <see cref="RunEndAcknowledged"/> once they left (or after a grace period).</summary>
public sealed record EndRun(bool Completed, string Reason) : INoSerializationVerificationNeeded;

public sealed record RunEndAcknowledged(int WorkersLeft) : INoSerializationVerificationNeeded;

/// <summary>The cluster could not carry on (e.g. no worker for longer than the wait timeout).</summary>
public sealed class ClusterException(string message) : Exception(message);

/// <summary>Live numbers the actors publish for the training loop's progress reports.</summary>
public sealed class ClusterStatus
{
    private int _workers;
    public int Workers => Volatile.Read(ref _workers);
    internal void SetWorkers(int n) => Volatile.Write(ref _workers, n);
}

/// <summary>A worker's data channel broke (Cluster/DataChannel): the coordinator treats it as lost, then goes on with it over Akka.</summary>
public sealed record DataChannelLost(IActorRef Worker, string Why) : INoSerializationVerificationNeeded;

// What the coordinator actor tells its step actor (same process, live objects: never serialized).

/// <summary>The training loop asks for a step (forwarded: the sender is the loop), with the workers taking part now.</summary>
internal sealed record StepAsked<T>(RunStep<T> Step, IReadOnlyList<(IActorRef Worker, string Name)> Workers) : INoSerializationVerificationNeeded
    where T : unmanaged, IFloatingPointIeee754<T>;

/// <summary>
/// A result from a worker (forwarded: the sender is the worker); <see cref="Known"/>: registered now or before;
/// <see cref="Frame"/>: the data channel's pooled frame the result's tensor lives in, released once it was read.
/// </summary>
internal sealed record ResultArrived(SubtreeResult Result, bool Known, DataDelivery? Frame) : INoSerializationVerificationNeeded;

/// <param name="Suspect">it came back by answering while counted unreachable: its share is also given to others until it answers a step</param>
/// <param name="PeerPort">the port of the worker's peer links on its host (tree data plane), 0 for none</param>
internal sealed record WorkerJoined(IActorRef Worker, string Name, bool Suspect = false, int PeerPort = 0) : INoSerializationVerificationNeeded;
internal sealed record WorkerLost(IActorRef Worker) : INoSerializationVerificationNeeded;
internal sealed record WorkerChannelLost(IActorRef Worker, string Why) : INoSerializationVerificationNeeded;
internal sealed record StepAborted(string Why) : INoSerializationVerificationNeeded;

/// <summary>The step actor's verdict: this worker sent a malformed or forged result and is out of the run.</summary>
internal sealed record ExcludeWorker(IActorRef Worker, string Reason) : INoSerializationVerificationNeeded;
