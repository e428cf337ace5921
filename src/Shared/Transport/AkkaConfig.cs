using System.Globalization;
using Akka.Actor;
using Akka.Configuration;

namespace DistRnn.Transport;

/// <summary>
/// The one Akka configuration every node of a run uses (coordinator, in-process workers, remote workers):
/// cluster provider, the binary protocol serializer, and the same frame and socket buffer sizes on every
/// node — a frame size raised on one side only tears associations down.
/// </summary>
public static class AkkaConfig
{
    /// <summary>All nodes' actor systems share this name (Akka only clusters systems of one name).</summary>
    public const string SystemName = "distrnn";
    public const string CoordinatorRole = "coordinator", WorkerRole = "worker";
    public const string CoordinatorActorName = "coordinator", WorkerActorName = "worker";
    /// <summary>The active coordinator's end of the replication stream to its standbys, and a standby's end (docs/failover.md).</summary>
    public const string ReplicationActorName = "replication", ReplicaActorName = "replica";

    /// <summary>
    /// How long the view must stay unchanged, with a member unreachable, before <see cref="CoordinatorSideDowning"/> acts.
    /// On top of the patient failure detector (a silent node is unreachable after ~10 s), so a killed active
    /// coordinator is downed, and its standby takes over, about 15 s after the kill.
    /// </summary>
    public static readonly TimeSpan DowningStableAfter = TimeSpan.FromSeconds(5);

    /// <summary>Largest frame the transport carries: a hidden-2048 float64 model's parameters fit with room to spare.</summary>
    public const int MaxFrameBytes = 64 * 1024 * 1024;
    /// <summary>Socket send/receive buffers (identical everywhere).</summary>
    public const int SocketBufferBytes = 4 * 1024 * 1024;
    /// <summary>What a message needs besides its tensor (ids, subtree lists, Akka's envelope).</summary>
    public const int FrameOverheadBytes = 64 * 1024;

    public static string ProtocolSerializerType => typeof(Protocol.ProtocolSerializer).AssemblyQualifiedName!.Split(", Version")[0];
    public static string ProtocolMarkerType => typeof(Protocol.IProtocolMessage).AssemblyQualifiedName!.Split(", Version")[0];

    /// <param name="role">coordinator or worker</param>
    /// <param name="host">address to bind and to advertise (peers connect to it)</param>
    /// <param name="port">0 = any free port</param>
    /// <param name="verbose">Akka's own INFO logs; otherwise errors only</param>
    /// <remarks>
    /// serialize-messages stays off on a node: what goes between nodes crosses the transport and our serializer
    /// anyway, and Akka.Cluster's own local events (ReachabilityChanged …) have no serializer, so with it on the
    /// downing provider (CoordinatorDowning) and the cluster's view never see a node become unreachable.
    /// </remarks>
    public static Config Node(string role, string host, int port, bool verbose, string? extra = null)
    {
        string level = verbose ? "INFO" : "ERROR";
        string hocon = string.Create(CultureInfo.InvariantCulture, $$"""
            akka {
              loglevel = {{level}}
              stdout-loglevel = {{level}}
              loggers = ["{{QuietLogger.TypeName}}"]
              log-config-on-start = off
              log-dead-letters = {{(verbose ? "10" : "off")}}
              log-dead-letters-during-shutdown = off
              actor {
                provider = cluster
                serializers { distrnn = "{{ProtocolSerializerType}}" }
                serialization-bindings { "{{ProtocolMarkerType}}" = distrnn }
                serialization-identifiers { "{{ProtocolSerializerType}}" = {{Protocol.ProtocolSerializer.Id}} }
              }
              remote {
                log-remote-lifecycle-events = {{(verbose ? "on" : "off")}}
                # a worker started before its coordinator retries soon (Akka's default gate is 5 s)
                retry-gate-closed-for = 2s
                dot-netty.tcp {
                  hostname = "{{host}}"
                  public-hostname = "{{host}}"
                  port = {{port}}
                  maximum-frame-size = {{MaxFrameBytes}}b
                  send-buffer-size = {{SocketBufferBytes}}b
                  receive-buffer-size = {{SocketBufferBytes}}b
                }
              }
              cluster {
                roles = [{{role}}]
                seed-node-timeout = 3s
                log-info = {{(verbose ? "on" : "off")}}
                # Patient on purpose. A lost worker costs no bits (its pieces are recomputed elsewhere) and the step
                # path does not wait for this detector: a killed worker's data channel breaks at once and its share
                # goes to the others, and a silent one meets the step deadline. So the detector only decides who is
                # out of the cluster, and a false "unreachable" (a heartbeat stuck behind a busy link or a GC pause)
                # would cost a healthy worker its part. Tensors travel over the data channel, its own TCP connection,
                # so they do not hold heartbeats up; over Akka (the fallback) a 34 MB tensor at 100 Mbit/s holds the
                # association for ~2.7 s, and a full 64 MiB frame ~5.4 s, which Akka's defaults (3 s pause,
                # threshold 8) would take for a failure. With these a silent node is unreachable after ~10 s.
                failure-detector {
                  heartbeat-interval = 1s
                  acceptable-heartbeat-pause = 8s
                  threshold = 10.0
                }
                # Who is downed when members are unreachable: CoordinatorSideDowning (the side that reaches a
                # coordinator keeps itself; a partitioned worker side downs itself and its nodes reconnect with
                # fresh actor systems; a coordinator never downs itself), also with a standby coordinator.
                downing-provider-class = "{{typeof(CoordinatorDowningProvider).AssemblyQualifiedName!.Split(", Version")[0]}}"
              }
              # The program handles Ctrl+C / SIGTERM itself (a worker leaves, the coordinator checkpoints).
              coordinated-shutdown {
                run-by-clr-shutdown-hook = off
                exit-clr = off
              }
            }
            """);
        var config = ConfigurationFactory.ParseString(hocon);
        if (extra is not null) config = ConfigurationFactory.ParseString(extra).WithFallback(config);
        return config;
    }

    /// <summary>
    /// Only the serializer binding (any provider): for actor tests of the protocol without a cluster,
    /// with serialize-messages on so every message makes the round trip through the wire format.
    /// </summary>
    public static Config SerializationOnly(bool serializeMessages) => ConfigurationFactory.ParseString($$"""
        akka.actor {
          serialize-messages = {{(serializeMessages ? "on" : "off")}}
          serializers { distrnn = "{{ProtocolSerializerType}}" }
          serialization-bindings { "{{ProtocolMarkerType}}" = distrnn }
          serialization-identifiers { "{{ProtocolSerializerType}}" = {{Protocol.ProtocolSerializer.Id}} }
        }
        """);

    /// <summary>The address a system actually bound (port 0 resolved).</summary>
    public static Address BoundAddress(ActorSystem system) => ((ExtendedActorSystem)system).Provider.DefaultAddress;

    /// <param name="scheme">akka.tcp, or akka.ssl.tcp when the cluster runs over TLS (<see cref="NodeSecurity.Scheme"/>)</param>
    public static Address CoordinatorAddress(string host, int port, string scheme = "akka.tcp") => new(scheme, SystemName, host, port);

    /// <summary>
    /// The model size a remote worker's frames start at, before it knows the run's model: the smallest frame (a float64
    /// model of about 120,000 values, hidden ≈ 300 on 65 symbols); when the model is larger the worker starts again,
    /// once, with frames for it — so no node's frames are larger than its run's model needs.
    /// </summary>
    public const int WorkerFrameValues = (MinFrameBytes - FrameOverheadBytes) / sizeof(double);

    /// <summary>The smallest frame a node that knows its model uses: control messages and gossip fit with room to spare.</summary>
    public const int MinFrameBytes = 1024 * 1024;

    /// <summary>
    /// The frame a node needs for a model of <paramref name="values"/> parameters: one tensor at the widest precision
    /// plus a message's overhead, at least <see cref="MinFrameBytes"/>. A node that knows its model (the coordinator,
    /// local workers) takes no larger frame, since before a peer has authenticated the transport may buffer up to one
    /// frame of whatever it declares; a remote worker learns the model only after joining (see <see cref="WorkerFrameValues"/>).
    /// Sizes may differ between nodes: no message to a node is larger than the model it was sized for.
    /// </summary>
    public static int FrameFor(int values) => (int)Math.Clamp((long)values * sizeof(double) + FrameOverheadBytes, MinFrameBytes, MaxFrameBytes);

    /// <summary>
    /// Bounds every tensor a message may carry to the model's size (see <see cref="Protocol.ProtocolSerializer"/>), and the
    /// transport's frames to what such a message needs (<see cref="FrameFor"/>).
    /// </summary>
    public static string TensorLimit(int values) =>
        $"{Protocol.ProtocolSerializer.MaxTensorValuesPath} = {values}\nakka.remote.dot-netty.tcp.maximum-frame-size = {FrameFor(values)}b";

    /// <summary>Parses HOST:PORT (IPv6 as [addr]:port); throws <see cref="InputException"/> naming the option.</summary>
    public static (string Host, int Port) ParseEndpoint(string text, string option, bool allowPortZero = false)
    {
        int colon = text.LastIndexOf(':');
        if (colon <= 0 || colon == text.Length - 1)
            throw new InputException($"{option} {text}: expected HOST:PORT, e.g. 127.0.0.1:4053");
        string host = text[..colon].Trim('[', ']');
        if (!int.TryParse(text[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out int port) || port > 65535 || (port == 0 && !allowPortZero))
            throw new InputException($"{option} {text}: the port must be a number from 1 to 65535");
        if (host.Length == 0) throw new InputException($"{option} {text}: the host is empty");
        return (host, port);
    }
}
