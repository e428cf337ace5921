namespace DistRnn.Protocol;

// The conversation between the active coordinator and a standby (docs/failover.md), state-machine replication of
// the training loop: the standby runs the same loop on its own copy of the state, fed with the active's root sums.
//
//   standby                                   active (/user/replication)
//   ReplicaAttach(version, node) ──►                                       (until the snapshot comes)
//                                      ◄── ReplicaSnapshotPart(run, step, i, n, bytes) × n   (the checkpoint of step s)
//                                      ◄── StepDecision(run, s+1, Σloss, Σchars, workers, Σgradient)  (every step, before its update)
//   DecisionAck(run, s+1) ──►                                              (it holds the sum and applied step s)
//
// The active applies step s+1 only after the ack, so the state of every completed step lives on both nodes.
//
// A standby that already holds the run (it followed a coordinator that is gone) resumes with the one that took the
// run over instead of asking for the state again:
//   ReplicaAttach(version, node, run, r) ──►                               (r: the last step whose decision it holds)
//                                      ◄── ReplicaResumed(run, r+1, "")   then StepDecision r+1, r+2, … (those it missed first)
//                                      ◄── ReplicaResumed(run, r+1, why)  (refused: it does not hold the steps after r)

/// <summary>
/// A standby coordinator asks for the run's state and its steps from now on; with <see cref="HeldThrough"/> ≥ 0 it
/// already holds run <see cref="RunId"/> up to that step's decision and asks for the decisions after it only.
/// </summary>
public sealed record ReplicaAttach(int ProtocolVersion, string Node, string RunId = "", long HeldThrough = -1) : IProtocolMessage;

/// <summary>
/// The answer to a resuming <see cref="ReplicaAttach"/>: the decisions from step <see cref="From"/> on follow
/// (<see cref="Refusal"/> empty), or they cannot, and why.
/// </summary>
public sealed record ReplicaResumed(string RunId, long From, string Refusal) : IProtocolMessage;

/// <summary>
/// Part <see cref="Index"/> of <see cref="Count"/> of the checkpoint bytes of step <see cref="Step"/> (the checkpoint
/// file's format, checksum included); a part is at most the model's size in float64 bytes, so it fits a frame.
/// </summary>
public sealed record ReplicaSnapshotPart(string RunId, long Step, int Index, int Count, byte[] Bytes) : IProtocolMessage;

/// <summary>A completed step's root sum, as the training loop receives it from the workers (before the mean, clip and update), and how many workers computed it (for the standby's progress lines).</summary>
/// <see cref="States"/> (--state carry): every sequence's final state of the step (batch × StateSize), which the standby's loop carries as the active's does; null with --state reset.
public sealed record StepDecision(string RunId, long Step, double Loss, long Chars, int Workers, TensorPayload Gradient, TensorPayload? States = null) : IProtocolMessage;

/// <summary>The standby holds <see cref="Step"/>'s decision and has applied every step before it.</summary>
public sealed record DecisionAck(string RunId, long Step) : IProtocolMessage;
