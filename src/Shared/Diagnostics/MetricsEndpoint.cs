using System.Diagnostics.Metrics;
using DistRnn.Security;
using DistRnn.Transport;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;

namespace DistRnn.Diagnostics;

/// <summary>
/// `--metrics HOST:PORT` of either role: one <see cref="Meter"/> served as Prometheus text at http://HOST:PORT/metrics
/// through OpenTelemetry's Prometheus HttpListener exporter (names and meanings: docs/metrics.md). The exporter names
/// a counter NAME_total and adds the unit (NAME_seconds, NAME_bytes) unless the name already ends with it, so every
/// instrument here is named as it is served. No scope labels: each process serves one meter, and a Prometheus target
/// is one process. Starting fails as bad input (exit 2) when the address cannot be listened on.
/// </summary>
public sealed class MetricsEndpoint : IDisposable
{
    public const string OptionName = "--metrics";

    /// <summary>The option as both programs take it.</summary>
    public static System.CommandLine.Option<string?> NewOption() => new(OptionName)
    {
        Description = "Serve this node's numbers for Prometheus at http://HOST:PORT/metrics (names: docs/metrics.md; 0.0.0.0 = every interface)",
        HelpName = "HOST:PORT",
    };

    /// <summary>Buckets of every duration histogram, in seconds: a step takes from a millisecond (tiny model) to minutes.</summary>
    public static readonly IReadOnlyList<double> SecondsBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

    private readonly MeterProvider _provider;

    private MetricsEndpoint(MeterProvider provider, string url, bool loopback)
    {
        _provider = provider;
        Url = url;
        IsLoopback = loopback;
    }

    /// <summary>Where to scrape (the host as given: HttpListener matches the request's Host header against it).</summary>
    public string Url { get; }
    public bool IsLoopback { get; }

    /// <summary>Syntax only (before anything is started or written): HOST:PORT with a port from 1 to 65535.</summary>
    public static (string Host, int Port) Parse(string endpoint) => AkkaConfig.ParseEndpoint(endpoint, OptionName);

    /// <param name="meterName">the role's meter (every instance of that name in this process is served)</param>
    /// <param name="service">service_name of the target_info series: distrnn or distrnn-worker</param>
    public static MetricsEndpoint Start(string endpoint, string meterName, string service)
    {
        var (host, port) = Parse(endpoint);
        // HttpListener's prefix, set here rather than by the exporter (whose Host takes no "+"): "+" is every interface
        // and answers whatever Host header. .NET's HttpListener on Linux cannot parse an IPv6 literal in a prefix.
        bool any = host is "0.0.0.0" or "::" or "*" or "+";
        if (!any && host.Contains(':'))
            throw new InputException($"{OptionName} {endpoint}: an IPv6 address cannot be given here (.NET's HTTP listener takes none); use an IPv4 address, a host name, or 0.0.0.0 for every interface");
        string prefixHost = any ? "+" : host;
        MeterProvider provider;
        try
        {
            provider = Sdk.CreateMeterProviderBuilder()
                .ConfigureResource(r => r.Clear().AddService(service, serviceVersion: typeof(MetricsEndpoint).Assembly.GetName().Version?.ToString(3)))
                .AddMeter(meterName)
                .AddPrometheusHttpListener(o =>
                {
                    o.Port = port;
                    o.ScopeInfoEnabled = false;
                    o.ConfigureHttpListener = (options, listener) =>
                    {
                        listener.Prefixes.Clear();
                        listener.Prefixes.Add($"http://{prefixHost}:{port}{options.ScrapeEndpointPath}/");
                    };
                })
                .Build();
        }
        catch (InvalidOperationException e)
        {
            var why = e.InnerException?.Message ?? e.Message;
            throw new InputException($"{OptionName} {endpoint}: cannot listen there ({why.ReplaceLineEndings(" ")})");
        }
        return new MetricsEndpoint(provider, $"http://{(any ? "127.0.0.1" : prefixHost)}:{port}/metrics", !any && NodeSecurity.IsLoopbackLiteral(host));
    }

    /// <summary>The line the node prints: where to scrape, and that beyond loopback anyone who reaches the port can read it.</summary>
    public string Describe() => IsLoopback
        ? $"metrics: Prometheus text at {Url}"
        : $"metrics: Prometheus text at {Url}, open to anyone who reaches this port (training numbers only, no secret or data: docs/metrics.md)";

    public void Dispose() => _provider.Dispose();
}

/// <summary>
/// Bytes through one node's data channel (the tensors' TCP path, Cluster/DataChannel): frames as written and read,
/// headers included, TLS overhead not. Counted by each connection, read by the role's metrics.
/// </summary>
public sealed class TrafficCounter
{
    private long _sent, _received;

    public long Sent => Interlocked.Read(ref _sent);
    public long Received => Interlocked.Read(ref _received);

    public void AddSent(long bytes) => Interlocked.Add(ref _sent, bytes);
    public void AddReceived(long bytes) => Interlocked.Add(ref _received, bytes);

    /// <summary>distrnn_data_sent_bytes_total and distrnn_data_received_bytes_total on <paramref name="meter"/> (both roles serve the same names).</summary>
    public void Publish(Meter meter)
    {
        meter.CreateObservableCounter("distrnn_data_sent_bytes", () => Sent, "By", "Bytes this node sent over the data channel (tensors; Akka's own messages not counted)");
        meter.CreateObservableCounter("distrnn_data_received_bytes", () => Received, "By", "Bytes this node received over the data channel (tensors; Akka's own messages not counted)");
    }
}
