using Akka.Actor;
using Akka.Dispatch;
using Akka.Event;

namespace DistRnn.Transport;

/// <summary>
/// Akka's log output for DistRnn nodes, on stderr. Without --verbose only errors pass (the configured log
/// level), and of those not the expected noise of nodes leaving at the end of a run (a peer's connection
/// closing is reported by Akka as an error "Disassociated"). Everything else — an oversized payload that
/// was dropped, a serializer failure — is shown. What strangers at the port can cause (a declared frame over the
/// limit, a connection reset) goes through a rate limit: a flood of them costs a few lines.
/// </summary>
public sealed class QuietLogger : ReceiveActor, IRequiresMessageQueue<ILoggerMessageQueueSemantics>
{
    private readonly Util.LineRateLimit _fromStrangers = new(20, TimeSpan.FromMinutes(1));

    public QuietLogger()
    {
        Receive<InitializeLogger>(_ => Sender.Tell(new LoggerInitialized()));
        Receive<LogEvent>(e =>
        {
            if (IsShutdownNoise(e)) return;
            if (IsConnectionNoise(e)) { if (_fromStrangers.Pass(Line(e)) is string line) Console.Error.WriteLine(line); return; }
            Console.Error.WriteLine(Line(e));
        });
    }

    private static string Line(LogEvent e) =>
        $"[akka {e.LogLevel().ToString().Replace("Level", "").ToLowerInvariant()}] {e.LogSource}: {e.Message}{(e is Error { Cause: { } c } ? $" ({c.GetType().Name}: {c.Message})" : "")}";

    /// <summary>A connection-level error any peer can cause before it has authenticated (the transport's handler reports it).</summary>
    public static bool IsConnectionNoise(LogEvent e) =>
        e.LogSource?.Contains("TcpServerHandler", StringComparison.Ordinal) == true || e.LogSource?.Contains("TcpClientHandler", StringComparison.Ordinal) == true
        || e is Error { Cause: { } c } && c.GetType().Name is "TooLongFrameException" or "CorruptedFrameException";

    public static bool IsShutdownNoise(LogEvent e)
    {
        if (e.LogLevel() != LogLevel.ErrorLevel) return false;
        if (e is Error { Cause: { } cause } && cause.GetType().Name is "EndpointDisassociatedException" or "ShutDownAssociation") return true;
        var text = e.Message?.ToString() ?? "";
        return text.Contains("Disassociated", StringComparison.Ordinal) && !text.Contains("oversized", StringComparison.OrdinalIgnoreCase);
    }

    public static string TypeName => typeof(QuietLogger).AssemblyQualifiedName!.Split(", Version")[0];
}
