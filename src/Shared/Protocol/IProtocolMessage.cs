namespace DistRnn.Protocol;

/// <summary>
/// Marker of every message that crosses the wire between coordinator and workers. One serializer binding
/// (<see cref="ProtocolSerializer"/>) covers them all, so none ever falls back to JSON.
/// </summary>
public interface IProtocolMessage;

public static class ProtocolInfo
{
    /// <summary>Bumped whenever a message's meaning or layout changes; a worker of another version is refused.</summary>
    public const int Version = 6; // 2: challenge–response fields (nonce, proofs); 3: carried states (--state carry) in jobs, results and decisions; 4: and in the tree data plane's plans and sums; 5: data-channel and peer-link frames carry a MAC with a secret and no TLS beyond loopback; 6: a standby resumes with the coordinator that took the run over (ReplicaAttach's run and step, ReplicaResumed)
}
