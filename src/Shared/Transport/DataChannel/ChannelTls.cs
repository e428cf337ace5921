using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using DistRnn.Security;

namespace DistRnn.Transport.DataChannel;

/// <summary>
/// TLS of the data channel: the node's own certificate (--tls-cert), mutual authentication, and the same
/// CA-chain check as the Akka transport (<see cref="PeerCertificateValidator"/>: the run's CA is the only trust
/// anchor; host names are not checked, as there). Without TLS credentials the stream stays plain TCP.
/// </summary>
public static class ChannelTls
{
    private static bool Check(TlsCredentials tls, X509Certificate? cert, X509Chain? chain, Action<string>? rejected)
    {
        using var peer = cert is null ? null : cert as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(cert.GetRawCertData());
        var problem = tls.Validator.Problem(cert as X509Certificate2 ?? peer, chain);
        if (problem is not null) rejected?.Invoke($"TLS: data channel refused a peer: {problem}");
        return problem is null;
    }

    public static async Task<Stream> AsServerAsync(Stream plain, TlsCredentials? tls, Action<string>? rejected, CancellationToken ct)
    {
        if (tls is null) return plain;
        var ssl = new SslStream(plain, leaveInnerStreamOpen: false);
        await ssl.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
        {
            ServerCertificate = tls.Certificate,
            ClientCertificateRequired = true,
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            EnabledSslProtocols = SslProtocols.None, // the system's default (TLS 1.2/1.3)
            RemoteCertificateValidationCallback = (_, cert, chain, _) => Check(tls, cert, chain, rejected),
        }, ct).ConfigureAwait(false);
        return ssl;
    }

    public static async Task<Stream> AsClientAsync(Stream plain, TlsCredentials? tls, Action<string>? rejected, CancellationToken ct)
    {
        if (tls is null) return plain;
        var ssl = new SslStream(plain, leaveInnerStreamOpen: false);
        await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = "distrnn-coordinator", // not checked: the CA chain is the identity (as on the Akka transport)
            ClientCertificates = new X509CertificateCollection { tls.Certificate },
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            EnabledSslProtocols = SslProtocols.None,
            RemoteCertificateValidationCallback = (_, cert, chain, _) => Check(tls, cert, chain, rejected),
        }, ct).ConfigureAwait(false);
        return ssl;
    }
}
