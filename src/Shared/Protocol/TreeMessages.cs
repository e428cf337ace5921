using DistRnn.Reduction;

namespace DistRnn.Protocol;

// The tree data plane (train --data-plane tree; docs/data-plane.md): the coordinator plans, the workers add up.
//
//   coordinator ──TreeStep(run, step, epoch, workers, pieces, you)──► every worker of the plan    (each epoch)
//   coordinator ──TreeParameters(run, step, chunk k, values)──► the root's owner ──► … (down the plan, chunk by chunk)
//   worker ──TreeSum(run, step, epoch, node, chunk k, Σloss, Σchars, values)──► the owner of node's parent
//   the root's owner ──TreeSum(…, root, k, …)──► coordinator
//
// Worker-to-worker messages go over the same Akka transport as everything else: the secret's handshake and per-frame
// HMAC, TLS with the run's CA, frames bounded by the model's size (a chunk is at most ChunkLayout.ChunkBytes).

/// <summary>
/// The plan of one epoch of step <see cref="Step"/>: every taking-part worker's actor path and pieces (the relay is
/// derived from them by <see cref="RelayPlan{TWorker}"/>, the same on every node); <see cref="You"/>: the receiver's index.
/// </summary>
public sealed record TreeStep(string RunId, long Step, int Epoch, string[] Workers, Subtree[][] Pieces, int You) : IProtocolMessage;

/// <summary>Chunk <see cref="Chunk"/> of step <see cref="Step"/>'s parameters (flat U,W,V,b,c), on its way down the plan.</summary>
public sealed record TreeParameters(string RunId, long Step, int Chunk, TensorPayload Values) : IProtocolMessage;

/// <summary>Chunk <see cref="Chunk"/> of <see cref="Node"/>'s sum in epoch <see cref="Epoch"/>; the loss and characters travel with chunk 0 (0 on the others).</summary>
public sealed record TreeSum(string RunId, long Step, int Epoch, Subtree Node, int Chunk, double Loss, long Chars, TensorPayload Values) : IProtocolMessage;
