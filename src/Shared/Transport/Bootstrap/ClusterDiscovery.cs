using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Akka.Actor;
using Akka.Http.Dsl;
using Akka.Management.Cluster.Bootstrap;
using Akka.Management.Dsl;
using Ceen.Httpd;

namespace DistRnn.Transport.Bootstrap;

/// <summary>How a node finds the cluster: Akka.Management's Cluster Bootstrap over a discovery method instead of a hand-picked seed.</summary>
public enum DiscoveryMethod
{
    /// <summary>The contact points are listed (<c>--contact-points</c>): Akka.Discovery's config method.</summary>
    Config,
    /// <summary>The pods of this Kubernetes namespace with the run's label (Akka.Discovery.KubernetesApi).</summary>
    Kubernetes,
}

/// <summary>
/// A node's Cluster Bootstrap settings (<c>--discovery</c>, <c>--contact-points</c>, <c>--management</c>): every node
/// serves Akka.Management's HTTP endpoint (bootstrap's contact point, plus <see cref="HealthRoutes"/>: /alive and
/// /ready); bootstrap looks the others up through discovery, joins a cluster one of them is in, or — when none is,
/// and all the expected contact points answer — the node with the lowest contact point forms it.
/// </summary>
/// <param name="ContactPoints">config discovery: every node's management HOST:PORT, this node's among them</param>
/// <param name="ManagementHost">the host this node's management endpoint advertises (and binds, unless <paramref name="ManagementBind"/>)</param>
/// <param name="RequiredContactPoints">contact points discovered before a new cluster may form (config: all listed)</param>
public sealed record ClusterDiscovery(
    DiscoveryMethod Method,
    IReadOnlyList<(string Host, int Port)> ContactPoints,
    string ManagementHost,
    int ManagementPort,
    int RequiredContactPoints,
    string ServiceName = ClusterDiscovery.DefaultServiceName,
    string? ManagementBind = null)
{
    public const string DefaultServiceName = "distrnn";
    /// <summary>Akka.Management's default port, and the one the Kubernetes manifests name "management".</summary>
    public const int DefaultManagementPort = 8558;
    public const string DiscoveryOption = "--discovery", ContactPointsOption = "--contact-points", ManagementOption = "--management";

    /// <summary>
    /// The options as given: <c>--discovery config</c> needs <c>--contact-points</c> (this node's <c>--management</c> among
    /// them); <c>kubernetes</c> takes the pods' label and namespace from the environment (see deploy/k8s). Throws
    /// <see cref="InputException"/> naming the option.
    /// </summary>
    /// <param name="nodeHost">the host this node's cluster transport advertises (the management endpoint's default host)</param>
    public static ClusterDiscovery? FromOptions(string? discovery, string? contactPoints, string? management, string nodeHost)
    {
        if (discovery is null)
        {
            if (contactPoints is not null) throw new InputException($"{ContactPointsOption} needs {DiscoveryOption} config");
            if (management is not null) throw new InputException($"{ManagementOption} needs {DiscoveryOption} config|kubernetes");
            return null;
        }
        var (mHost, mPort) = management is null ? (nodeHost, DefaultManagementPort) : AkkaConfig.ParseEndpoint(management, ManagementOption);
        switch (discovery)
        {
            case "config":
                if (contactPoints is null) throw new InputException($"{DiscoveryOption} config needs {ContactPointsOption} HOST:PORT,HOST:PORT (every node's {ManagementOption} address)");
                var points = contactPoints.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
                    .Select(p => AkkaConfig.ParseEndpoint(p, ContactPointsOption)).ToList();
                if (points.Count == 0) throw new InputException($"{ContactPointsOption} {contactPoints}: no HOST:PORT in it");
                if (points.Distinct().Count() != points.Count) throw new InputException($"{ContactPointsOption} {contactPoints}: a contact point is listed twice");
                if (!points.Contains((mHost, mPort)))
                    throw new InputException($"{ContactPointsOption} {contactPoints}: this node's management endpoint {mHost}:{mPort} ({ManagementOption}) is not among them");
                return new ClusterDiscovery(DiscoveryMethod.Config, points, mHost, mPort, points.Count);
            case "kubernetes":
                if (contactPoints is not null) throw new InputException($"{ContactPointsOption} is for {DiscoveryOption} config; with kubernetes the pods are the contact points");
                int required = int.TryParse(Environment.GetEnvironmentVariable(RequiredVariable), NumberStyles.None, CultureInfo.InvariantCulture, out int r) && r > 0 ? r : 2;
                return new ClusterDiscovery(DiscoveryMethod.Kubernetes, [], mHost, mPort, required, ManagementBind: "0.0.0.0");
            default:
                throw new InputException($"{DiscoveryOption} {discovery}: expected config or kubernetes");
        }
    }

    /// <summary>Kubernetes: how many pods must be up before a new cluster forms (the coordinator's and the workers' replicas).</summary>
    public const string RequiredVariable = "DISTRNN_REQUIRED_CONTACT_POINTS";

    /// <summary>The HOCON for Akka.Management, its bootstrap and the discovery method, layered over the node's configuration.</summary>
    public string Hocon()
    {
        static string Q(string s) => "\"" + s.Replace("\\", "\\\\").Replace("\"", "\\\"") + "\"";
        // Akka.NET's config discovery reads each endpoint as "host:port"
        string endpoints = string.Join(", ", ContactPoints.Select(p => Q(string.Create(CultureInfo.InvariantCulture, $"{p.Host}:{p.Port}"))));
        string method = Method == DiscoveryMethod.Config ? "config" : "kubernetes-api";
        return string.Create(CultureInfo.InvariantCulture, $$"""
            akka.management.http {
              hostname = {{Q(ManagementHost)}}
              port = {{ManagementPort}}
              bind-hostname = {{Q(ManagementBind ?? ManagementHost)}}
              bind-port = {{ManagementPort}}
              routes.distrnn-health = {{Q(HealthRoutes.TypeName)}}
            }
            akka.management.cluster.bootstrap {
              contact-point-discovery {
                service-name = {{Q(ServiceName)}}
                discovery-method = {{method}}
                required-contact-point-nr = {{RequiredContactPoints}}
                stable-margin = 2s
                interval = 1s
                {{(Method == DiscoveryMethod.Kubernetes ? "port-name = \"management\"" : "")}}
              }
              # every contact point is a management endpoint, whatever its port (on one host they differ)
              contact-point.filter-on-fallback-port = false
            }
            akka.discovery {
              method = {{method}}
              config.services.{{ServiceName}}.endpoints = [ {{endpoints}} ]
              # the pods labelled app=<service name>, by their IP (no dependence on the cluster's pod DNS)
              kubernetes-api {
                pod-label-selector = "app={0}"
                use-raw-ip = true
              }
            }
            """);
    }

    /// <summary>
    /// Serves this node's Akka.Management endpoint (bootstrap's contact point, /alive, /ready) for the life of the node,
    /// across the actor systems it makes (<see cref="ManagementEndpoint.BootstrapAsync"/> attaches each).
    /// </summary>
    /// <exception cref="InputException">the management endpoint cannot listen</exception>
    public async Task<ManagementEndpoint> ServeAsync()
    {
        var bind = ManagementBind ?? ManagementHost;
        var address = IPAddress.TryParse(bind, out var ip) ? ip
            : Dns.GetHostAddresses(bind).FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork)
              ?? throw new InputException($"{ManagementOption} {bind}:{ManagementPort}: cannot resolve the host");
        var endpoint = new ManagementEndpoint();
        try { endpoint.Serving = HttpServer.ListenAsync(new IPEndPoint(address, ManagementPort), false, new ServerConfig { Router = endpoint }, endpoint.Stop.Token); }
        catch (Exception e) { throw Unservable(e); }
        // a port in use fails at once: give it that moment
        if (await Task.WhenAny(endpoint.Serving, Task.Delay(200)).ConfigureAwait(false) == endpoint.Serving)
            throw Unservable(endpoint.Serving.Exception is { } failed ? failed : new InvalidOperationException("the server stopped"));
        return endpoint;
    }

    private InputException Unservable(Exception e) =>
        new($"{ManagementOption} {ManagementHost}:{ManagementPort}: cannot serve Akka.Management there ({e.GetBaseException().Message})");
}

/// <summary>
/// A node's Akka.Management endpoint: one HTTP listener for the node's life, routing to the actor system attached last
/// (a worker makes a fresh system after losing its coordinator; the port stays the same).
/// </summary>
/// <remarks>
/// <c>AkkaManagement.Start()</c> cannot serve here: Akka.Http.Shim 1.5.73 was built against Ceen.Httpd 0.9.9, whose
/// <c>HttpServer.ListenAsync(IPEndPoint, …)</c> became <c>ListenAsync(EndPoint, …)</c> in 0.9.10, the only Ceen served
/// (a MissingMethodException at start). So the node serves <c>AkkaManagement.Routes()</c> — Akka.Management's documented
/// way to embed its routes in another server — with Ceen.Httpd 0.9.10 and Akka.Http.Shim's own router.
/// </remarks>
public sealed class ManagementEndpoint : Ceen.IRouter, IAsyncDisposable
{
    private volatile AkkaRouter? _current;
    internal CancellationTokenSource Stop { get; } = new();
    internal Task Serving { get; set; } = Task.CompletedTask;

    /// <summary>Routes the endpoint to <paramref name="system"/> (made with <see cref="ClusterDiscovery.Hocon"/>) and starts its Cluster Bootstrap.</summary>
    public async Task BootstrapAsync(ActorSystem system)
    {
        _current = new AkkaRouter(system, AkkaManagement.Get(system).Routes()); // Routes() also tells bootstrap its own contact point
        await ClusterBootstrap.Get(system).Start().ConfigureAwait(false);
    }

    public async Task<bool> Process(Ceen.IHttpContext context)
    {
        if (_current is { } router) return await router.Process(context).ConfigureAwait(false);
        context.Response.StatusCode = Ceen.HttpStatusCode.ServiceUnavailable;
        await context.Response.WriteAllAsync("not ready: starting\n", "text/plain; charset=utf-8").ConfigureAwait(false);
        return true;
    }

    public async ValueTask DisposeAsync()
    {
        await Stop.CancelAsync().ConfigureAwait(false);
        await Task.WhenAny(Serving, Task.Delay(TimeSpan.FromSeconds(5))).ConfigureAwait(false);
        Stop.Dispose();
    }
}
