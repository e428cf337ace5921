using DistRnn.Reduction;

namespace DistRnn.Protocol;

// The tree data plane (train --data-plane tree; docs/data-plane.md): the coordinator plans, the workers add up.
//
//   coordinator ──TreeStep(run, step, epoch, workers, pieces, you[, s_0 of the batch])──► every worker of the plan    (each epoch)
//   coordinator ──TreeParameters(run, step, chunk k, values)──► the root's owner ──► … (down the plan, chunk by chunk)
//   worker ──TreeSum(run, step, epoch, node, chunk k, Σloss, Σchars[, node's s_T], values)──► the owner of node's parent
//   the root's owner ──TreeSum(…, root, k, …)──► coordinator
//
// Coordinator↔worker, these go over the worker's data channel when it has one (Akka otherwise); worker↔worker, the
// chunks go over peer links (data connections between workers: the run's peer ticket and the secret's proofs, TLS with
// the run's CA, frames bounded by the model's size), over Akka where a worker has none or its link broke.

/// <summary>
/// The plan of one epoch of step <see cref="Step"/>: every taking-part worker's actor path and pieces (the relay is
/// derived from them by <see cref="RelayPlan{TWorker}"/>, the same on every node); <see cref="You"/>: the receiver's index.
/// <see cref="Peers"/>: each worker's peer-link endpoint ("host:port", "" for none; null or empty: none at all), and the
/// run's peer ticket (<see cref="PeerTicketId"/>, <see cref="PeerTicketKey"/>) that both ends of a peer link prove they hold.
/// <see cref="States"/> (--state carry): the s_0 of every sequence of the step's batch (batch × StateSize), as a star
/// job carries them; null with --state reset.
/// </summary>
public sealed record TreeStep(string RunId, long Step, int Epoch, string[] Workers, Subtree[][] Pieces, int You,
    string[]? Peers = null, byte[]? PeerTicketId = null, byte[]? PeerTicketKey = null, TensorPayload? States = null) : IProtocolMessage;

/// <summary>Chunk <see cref="Chunk"/> of step <see cref="Step"/>'s parameters (flat U,W,V,b,c), on its way down the plan.</summary>
public sealed record TreeParameters(string RunId, long Step, int Chunk, TensorPayload Values) : IProtocolMessage;

/// <summary>
/// Chunk <see cref="Chunk"/> of <see cref="Node"/>'s sum in epoch <see cref="Epoch"/>; the loss and characters travel with
/// chunk 0 (0 on the others), and so do, with --state carry, the final states s_T of the node's sequences in order
/// (<see cref="States"/>: its sequences × StateSize; a parent's are its left child's, then its right child's; null on
/// the other chunks and with --state reset).
/// </summary>
public sealed record TreeSum(string RunId, long Step, int Epoch, Subtree Node, int Chunk, double Loss, long Chars, TensorPayload Values,
    TensorPayload? States = null) : IProtocolMessage;
