using Akka.Actor;
using Akka.Cluster;
using Akka.Http.Dsl;
using Akka.Management.Dsl;
using Ceen;
using Route = System.ValueTuple<string, Akka.Http.Dsl.HttpModuleBase>;

namespace DistRnn.Transport.Bootstrap;

/// <summary>
/// What a node says of itself to a liveness and a readiness probe. Alive while its actor system runs; ready once its
/// member is Up and its role says so through <see cref="Ready"/> (the coordinator: a run is going; a worker: it is
/// registered for a run). One per actor system.
/// </summary>
public sealed class NodeHealth : IExtension
{
    private volatile string? _notReady = "starting";

    public static NodeHealth Get(ActorSystem system) => system.WithExtension<NodeHealth, NodeHealthProvider>();

    /// <summary>The role's readiness: null = ready, else why not (shown to the probe).</summary>
    public void Ready(string? whyNot) => _notReady = whyNot;

    /// <summary>Null when ready, else why not.</summary>
    public string? NotReady(ActorSystem system)
    {
        if (system.WhenTerminated.IsCompleted) return "the actor system is stopping";
        var status = Akka.Cluster.Cluster.Get(system).SelfMember.Status;
        return status != MemberStatus.Up ? $"cluster member is {status}" : _notReady;
    }
}

public sealed class NodeHealthProvider : ExtensionIdProvider<NodeHealth>
{
    public override NodeHealth CreateExtension(ExtendedActorSystem system) => new();
}

/// <summary>
/// <c>GET /alive</c> and <c>GET /ready</c> on Akka.Management's endpoint, for Kubernetes' liveness and readiness probes:
/// 200 "ok", or 503 with the reason. Akka.NET's Akka.Management has no health routes of its own (its reference.conf
/// says so), so they are registered as one of its route providers (<c>akka.management.http.routes</c>).
/// </summary>
public sealed class HealthRoutes : IManagementRouteProvider
{
    public static string TypeName => typeof(HealthRoutes).AssemblyQualifiedName!.Split(", Version")[0];

    public Route[] Routes(ManagementRouteProviderSettings settings)
    {
        var module = new Module();
        return [("/alive", module), ("/ready", module)];
    }

    private sealed class Module : HttpModuleBase
    {
        public override async Task<bool> HandleAsync(IAkkaHttpContext context)
        {
            var request = context.HttpContext.Request;
            if (!string.Equals(request.Method, "GET", StringComparison.OrdinalIgnoreCase)) return false;
            string? whyNot = request.Path.EndsWith("/ready", StringComparison.Ordinal)
                ? NodeHealth.Get(context.ActorSystem).NotReady(context.ActorSystem)
                : context.ActorSystem.WhenTerminated.IsCompleted ? "the actor system is stopping" : null;
            var response = context.HttpContext.Response;
            response.StatusCode = whyNot is null ? HttpStatusCode.OK : HttpStatusCode.ServiceUnavailable;
            await response.WriteAllAsync(whyNot is null ? "ok\n" : $"not ready: {whyNot}\n", "text/plain; charset=utf-8").ConfigureAwait(false);
            return true;
        }
    }
}
