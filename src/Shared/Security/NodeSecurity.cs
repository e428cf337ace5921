using Akka.Actor;
using Akka.Actor.Setup;
using Akka.Configuration;

namespace DistRnn.Security;

/// <summary>
/// A node's security options in one place: the shared secret of registration (<c>--secret-file</c>) and
/// the mutual-TLS identity of the transport (<c>--tls-cert</c>, <c>--tls-ca</c>). Either may be absent; the
/// coordinator and the worker take the same options and must agree (a mismatch is refused, saying why).
/// </summary>
public sealed record NodeSecurity(SharedSecret? Secret, TlsCredentials? Tls)
{
    public const string SecretOption = "--secret-file";

    public static readonly NodeSecurity None = new(null, null);

    /// <summary>Loads the files the options name; bad input raises <see cref="InputException"/>, advice goes to <paramref name="warn"/>.</summary>
    public static NodeSecurity FromOptions(string? secretFile, string? tlsCert, string? tlsCa, Action<string>? warn = null)
    {
        var secret = secretFile is null ? null : SharedSecret.Load(secretFile, SecretOption);
        if (secret?.Warning is string w) warn?.Invoke(w);
        var tls = TlsCredentials.FromOptions(tlsCert, tlsCa);
        return new NodeSecurity(secret, tls);
    }

    /// <summary>
    /// The address scheme of this node's transport: akka.tcp, akka.ssl.tcp with TLS, and with a secret the
    /// authenticated adapter's part in front (akka.auth.tcp, akka.auth.ssl.tcp).
    /// </summary>
    public string Scheme => Secret is null ? TlsCredentials.SchemeFor(Tls) : $"akka.{Transport.AuthenticatedTransport.SchemePart}.{TlsCredentials.SchemeFor(Tls)["akka.".Length..]}";

    /// <summary>
    /// Creates the node's actor system: over TLS when configured, and with a secret every connection behind the
    /// secret's handshake (<see cref="Transport.AuthenticatedTransport"/>); its refusals are in
    /// <see cref="Authentication"/>.
    /// </summary>
    /// <param name="onRefusal">each connection the secret's handshake refused, one line (print it through a rate limit)</param>
    public ActorSystem CreateSystem(string name, Config config, Action<Transport.TransportRefusal>? onRefusal = null)
    {
        if (Secret is null) return TlsCredentials.CreateSystem(name, config, Tls);
        config = ConfigurationFactory.ParseString(Transport.TransportAuthentication.Hocon).WithFallback(config);
        var setup = Tls?.Bootstrap(config) ?? ActorSystemSetup.Create(BootstrapSetup.Create().WithConfig(config));
        return ActorSystem.Create(name, setup.And(new Transport.TransportAuthentication(Secret, onRefusal)));
    }

    /// <summary>What the secret's handshake refused on <paramref name="system"/> (null without a secret).</summary>
    public static Transport.TransportAuthentication? Authentication(ActorSystem system)
    {
        var auth = system.Settings.Setup.Get<Transport.TransportAuthentication>();
        return auth.HasValue ? auth.Value : null;
    }

    public const string InsecureOption = "--insecure";

    /// <summary>
    /// Throws <see cref="InputException"/> when a node would listen beyond this machine (<paramref name="host"/> is not a
    /// loopback address) with neither a secret nor TLS, unless the user said <c>--insecure</c>: anyone who reaches
    /// such a port can join the cluster, down its members and steer the run.
    /// </summary>
    /// <param name="option">the option that chose the address, e.g. "--listen 10.0.0.5:4053"</param>
    public void CheckExposure(string host, string option, bool insecure)
    {
        if (Secret is not null || Tls is not null || insecure || IsLoopback(host)) return;
        throw new InputException($"{option}: reachable from other machines without {SecretOption} or {TlsCredentials.CertOption}, so anyone who reaches the port " +
                                 $"could join the cluster, stop or mislead the run; give every node the run's secret ({SecretOption} FILE, e.g. from `openssl rand -hex 32`) " +
                                 $"or mutual TLS, or say {InsecureOption} to run open on a network you trust");
    }

    /// <summary>True for a loopback address, or a name all of whose addresses are loopback.</summary>
    public static bool IsLoopback(string host)
    {
        if (IsLoopbackLiteral(host)) return true;
        if (System.Net.IPAddress.TryParse(host.Trim('[', ']'), out _)) return false;
        try
        {
            var all = System.Net.Dns.GetHostAddresses(host);
            return all.Length > 0 && all.All(System.Net.IPAddress.IsLoopback);
        }
        catch (Exception e) when (e is System.Net.Sockets.SocketException or ArgumentException) { return false; }
    }

    /// <summary>A loopback address as written, or "localhost": no name lookup (cheap enough for every message).</summary>
    public static bool IsLoopbackLiteral(string host) =>
        host.Equals("localhost", StringComparison.OrdinalIgnoreCase)
        || (System.Net.IPAddress.TryParse(host.Trim('[', ']'), out var ip) && System.Net.IPAddress.IsLoopback(ip));

    /// <summary>One line for the start-up banner, e.g. "shared secret, mutual TLS".</summary>
    public string Describe() =>
        (Secret, Tls) switch
        {
            (null, null) => "no authentication (anyone who reaches the port may join; see --secret-file, --tls-cert)",
            (not null, null) => "shared secret on every connection (authenticated, not encrypted; see --tls-cert)",
            (null, not null) => "mutual TLS, roles from the certificates, no shared secret",
            _ => "shared secret on every connection, mutual TLS, roles from the certificates",
        };
}
