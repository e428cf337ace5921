using Akka.Actor;
using DistRnn.Data;
using DistRnn.Security;

namespace DistRnn.Worker.Node;

/// <summary>What a worker node's actor reports to the program hosting it.</summary>
public abstract record WorkerEvent
{
    public sealed record Registered(int Workers) : WorkerEvent;
    public sealed record Refused(string Reason) : WorkerEvent;
    public sealed record RunEnded(bool Completed, string Reason) : WorkerEvent;
    public sealed record CoordinatorLost(string Why) : WorkerEvent;
    public sealed record Note(string Message) : WorkerEvent;
    /// <summary>The run's model has more values than this node's frames were sized for: start again with frames for it.</summary>
    public sealed record NeedsLargerFrames(int Values) : WorkerEvent;
}

/// <param name="Secret">the run's shared secret (--secret-file), proven at registration; null = none</param>
/// <param name="Slowdown">test knob: each piece takes this many times its compute time (≥ 1; a straggler on demand)</param>
/// <param name="Tls">this node's TLS credentials (the data channel uses them as the Akka transport does); null = plain TCP</param>
/// <param name="Pin">the only node taken as the coordinator (its --join address)</param>
/// <param name="FrameValues">the largest model this node's frames and tensor limit were made for</param>
/// <param name="Metrics">this node's numbers for --metrics, or null</param>
public sealed record WorkerSettings(Corpus Corpus, int Threads, string Node, CoordinatorPin Pin, int FrameValues, SharedSecret? Secret = null, double Slowdown = 1, TlsCredentials? Tls = null,
    Metrics.WorkerMetrics? Metrics = null);

/// <summary>Local: hand back the work and tell the coordinator this worker leaves (Ctrl+C / SIGTERM). Answered with <see cref="Left"/>.</summary>
public sealed record LeaveRun(string Reason) : INoSerializationVerificationNeeded;
public sealed record Left : INoSerializationVerificationNeeded { public static readonly Left Instance = new(); }
