using System.Security.Cryptography.X509Certificates;

namespace DistRnn.Security;

/// <summary>
/// Accepts a peer's certificate only when it chains to one of the run's own CAs (<c>--tls-ca</c>) — not to
/// whatever the machine's trust store holds. Akka.NET 1.5.74's HOCON has no "CA file" setting (only the system
/// store, or no validation at all), so this check runs as the DotNetty transport's custom validation callback
/// (<c>DotNettySslSetup.CustomValidator</c>) on both ends of every connection. Host names are not checked: nodes
/// connect by IP address and every node's certificate is issued by the run's CA, which is the identity that matters.
/// </summary>
public sealed class PeerCertificateValidator(X509Certificate2Collection authorities)
{
    public X509Certificate2Collection Authorities { get; } = authorities.Count > 0
        ? authorities
        : throw new ArgumentException("at least one CA certificate is needed", nameof(authorities));

    /// <summary>Null when <paramref name="peer"/> chains to one of the CAs and is valid now; otherwise why not.</summary>
    /// <param name="presented">the chain the peer sent (its intermediates help the build; its roots are not trusted)</param>
    public string? Problem(X509Certificate2? peer, X509Chain? presented = null)
    {
        if (peer is null) return "the peer presented no certificate";
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(Authorities);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck; // a development CA publishes no CRL
        chain.ChainPolicy.VerificationFlags = X509VerificationFlags.NoFlag;
        chain.ChainPolicy.DisableCertificateDownloads = true;
        if (presented is not null)
            foreach (var element in presented.ChainElements)
                if (!element.Certificate.RawDataMemory.Span.SequenceEqual(peer.RawDataMemory.Span))
                    chain.ChainPolicy.ExtraStore.Add(element.Certificate);
        if (chain.Build(peer)) return null;
        var statuses = chain.ChainStatus.Where(s => s.Status != X509ChainStatusFlags.NoError)
            .Select(s => $"{s.Status}: {s.StatusInformation.Trim()}").Distinct();
        return $"certificate '{peer.Subject}' (issuer '{peer.Issuer}') does not chain to the run's CA ({string.Join("; ", statuses)})";
    }
}
