using Akka.Actor;
using Akka.Dispatch;
using Akka.Event;

namespace DistRnn.Transport;

/// <summary>
/// Akka's log output for DistRnn nodes, on stderr. Without --verbose only errors pass (the configured log
/// level), and of those not the expected noise of nodes leaving at the end of a run (a peer's connection
/// closing is reported by Akka as an error "Disassociated"). Everything else — an oversized payload that
/// was dropped, a serializer failure — is shown.
/// </summary>
public sealed class QuietLogger : ReceiveActor, IRequiresMessageQueue<ILoggerMessageQueueSemantics>
{
    public QuietLogger()
    {
        Receive<InitializeLogger>(_ => Sender.Tell(new LoggerInitialized()));
        Receive<LogEvent>(e =>
        {
            if (IsShutdownNoise(e)) return;
            Console.Error.WriteLine($"[akka {e.LogLevel().ToString().Replace("Level", "").ToLowerInvariant()}] {e.LogSource}: {e.Message}{(e is Error { Cause: { } c } ? $" ({c.GetType().Name}: {c.Message})" : "")}");
        });
    }

    public static bool IsShutdownNoise(LogEvent e)
    {
        if (e.LogLevel() != LogLevel.ErrorLevel) return false;
        if (e is Error { Cause: { } cause } && cause.GetType().Name is "EndpointDisassociatedException" or "ShutDownAssociation") return true;
        var text = e.Message?.ToString() ?? "";
        return text.Contains("Disassociated", StringComparison.Ordinal) && !text.Contains("oversized", StringComparison.OrdinalIgnoreCase);
    }

    public static string TypeName => typeof(QuietLogger).AssemblyQualifiedName!.Split(", Version")[0];
}
