using Akka.Actor;
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

    /// <summary>The address scheme of this node's transport: akka.ssl.tcp with TLS, akka.tcp without.</summary>
    public string Scheme => TlsCredentials.SchemeFor(Tls);

    /// <summary>Creates the node's actor system, over TLS when configured.</summary>
    public ActorSystem CreateSystem(string name, Config config) => TlsCredentials.CreateSystem(name, config, Tls);

    /// <summary>One line for the start-up banner, e.g. "shared secret, mutual TLS".</summary>
    public string Describe() =>
        (Secret, Tls) switch
        {
            (null, null) => "no authentication (anyone who reaches the port may join; see --secret-file, --tls-cert)",
            (not null, null) => "shared-secret registration, no encryption (see --tls-cert)",
            (null, not null) => "mutual TLS, no shared secret",
            _ => "shared-secret registration, mutual TLS",
        };
}
