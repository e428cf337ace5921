using DistRnn.Reduction;

namespace DistRnn.Protocol;

// The conversation between a worker and the coordinator (all over the wire, all binary):
//
//   worker                              coordinator
//   JoinRequest(version, node, threads, nonce_w) ──►
//                                      ◄── RunSpec(run, config, corpus sha, vocabulary, nonce_c, proof_c)  | Refused(reason)
//   Register(run, corpus sha, config fingerprint, …, proof_w) ──►
//                                      ◄── Registered(run)                               | Refused(reason)
//                                      ◄── ComputeSubtrees(run, step, nodes, parameters)   (every step)
//   SubtreeResult(run, step, node, Σloss, Σchars, Σgradient) ──►                          (one per node, as soon as ready)
//                                      ◄── RunEnded(completed, reason)
//   WorkerLeaving(reason) ──►                                                              (run ended, or Ctrl+C / SIGTERM)
//
// With a shared secret (--secret-file) registration is a challenge–response both ways (Security/ChallengeResponse):
// proof_w = HMAC(secret, worker role ‖ context ‖ nonce_c), proof_c = HMAC(secret, coordinator role ‖ context ‖ nonce_w),
// context = protocol version, run id, corpus sha, config fingerprint, the worker's address. Without one the
// nonce and proof fields are empty. With TLS the run spec also carries the coordinator's certificate and its
// signature over nonce_w in that context; the worker requires a coordinator certificate of the run's CA (OU=coordinator).

/// <summary>A worker asks to take part; the coordinator answers with the run it would join. <see cref="Nonce"/>: the worker's challenge to the coordinator (empty without a secret).</summary>
public sealed record JoinRequest(int ProtocolVersion, string Node, int Threads, byte[]? Nonce = null) : IProtocolMessage;

/// <summary>
/// The run a worker is invited to: the configuration as JSON (a worker derives its fingerprint and the batch
/// plan from it), the corpus it must hold, and the vocabulary size that corpus gives.
/// </summary>
/// <see cref="Challenge"/>: the nonce the worker must answer; <see cref="CoordinatorProof"/>: the coordinator's answer to
/// the worker's nonce (both empty without a secret). With TLS, <see cref="CoordinatorCertificate"/> (DER) and
/// <see cref="CoordinatorSignature"/>: the coordinator's certificate and its signature over the worker's nonce in the
/// registration context (Security/CertificateRole), so a worker's certificate cannot pose as the coordinator.
public sealed record RunSpec(int ProtocolVersion, string RunId, string ConfigJson, string CorpusSha256, string CorpusName, int VocabSize,
    byte[]? Challenge = null, byte[]? CoordinatorProof = null, byte[]? CoordinatorCertificate = null, byte[]? CoordinatorSignature = null) : IProtocolMessage;

/// <summary>
/// A worker's proof that it can compute this run's bits: the SHA-256 of the corpus it loaded, the fingerprint
/// of the configuration as it understood it, and the vocabulary size its corpus gave; <see cref="Proof"/> answers
/// the coordinator's challenge (empty without a secret).
/// </summary>
/// <param name="PeerPort">the port of this worker's peer links (the tree data plane's worker-to-worker data connections,
/// on its Akka host); 0: none (its tree tensors from other workers come over Akka)</param>
public sealed record Register(int ProtocolVersion, string RunId, string Node, string CorpusSha256, string ConfigFingerprint, int VocabSize, int Threads,
    byte[]? Proof = null, int PeerPort = 0) : IProtocolMessage;

/// <summary>The worker takes part from the next step on (or at once, when a step waits for workers).</summary>
public sealed record Registered(string RunId, int Workers) : IProtocolMessage;

/// <summary>A worker cannot take part; the reason names what differs.</summary>
public sealed record Refused(string Reason) : IProtocolMessage;

/// <summary>
/// Compute these subtrees of step <see cref="Step"/> with these parameters (flat U,W,V,b,c). <see cref="States"/>
/// (--state carry): the s_0 of every sequence of the step's batch (batch × StateSize); null with --state reset.
/// </summary>
public sealed record ComputeSubtrees(string RunId, long Step, Subtree[] Nodes, TensorPayload Parameters, TensorPayload? States = null) : IProtocolMessage;

/// <summary>
/// The sum over one subtree's shards: Σ gradient (flat U,W,V,b,c), Σ loss, Σ predicted characters. <see cref="States"/>
/// (--state carry): the final state s_T of each of the subtree's sequences, in order (sequences × StateSize); null with --state reset.
/// </summary>
public sealed record SubtreeResult(string RunId, long Step, Subtree Node, double Loss, long Chars, TensorPayload Gradient, TensorPayload? States = null) : IProtocolMessage;

/// <summary>
/// Sent after <see cref="Registered"/>: the tensors of this worker's steps may move over a data channel beside Akka
/// (Cluster/DataChannel) on <see cref="Port"/> of the coordinator's host. The ticket is this worker's alone: it
/// proves the connection is the registered worker's (an HMAC over fresh nonces, never the key itself). A worker
/// that cannot connect, or an older one that does not know this message, goes on over Akka.
/// </summary>
public sealed record DataChannelOffer(string RunId, int Port, byte[] TicketId, byte[] TicketKey) : IProtocolMessage;

/// <summary>The run is over (<see cref="Completed"/>) or the coordinator stops early; workers leave.</summary>
public sealed record RunEnded(bool Completed, string Reason) : IProtocolMessage;

/// <summary>A worker leaves: its outstanding work goes to the others at once.</summary>
public sealed record WorkerLeaving(string Reason) : IProtocolMessage;
