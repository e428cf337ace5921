using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace DistRnn.Security;

/// <summary>
/// Which role a node certificate may play, written in it by the run's CA as the subject's organisational unit
/// (<c>OU=coordinator</c> or <c>OU=worker</c>, as deploy/make-certs.sh makes them): TLS proves a peer belongs to the
/// run, the role says whether it may steer it. A worker accepts a coordinator only when it signs the worker's fresh
/// nonce (bound to the registration context) with the key of a coordinator certificate of the run's CA, so a
/// worker's certificate cannot act as coordinator even though it passes TLS.
/// </summary>
public static class CertificateRole
{
    public const string Coordinator = "coordinator", Worker = "worker";
    private const string OrganizationalUnitOid = "2.5.4.11";

    /// <summary>The certificate's role (its OU of <see cref="Coordinator"/> or <see cref="Worker"/>), or null when it names none.</summary>
    public static string? Of(X509Certificate2 certificate)
    {
        foreach (var rdn in certificate.SubjectName.EnumerateRelativeDistinguishedNames())
            if (rdn.GetSingleElementType().Value == OrganizationalUnitOid && rdn.GetSingleElementValue() is string ou
                && (ou.Equals(Coordinator, StringComparison.OrdinalIgnoreCase) || ou.Equals(Worker, StringComparison.OrdinalIgnoreCase)))
                return ou.ToLowerInvariant();
        return null;
    }

    /// <summary>Null when this node's certificate may play <paramref name="role"/>; otherwise why not (for an error naming the option).</summary>
    public static string? Problem(X509Certificate2 certificate, string role) =>
        Of(certificate) == role ? null
        : $"the certificate '{certificate.Subject}' is {(Of(certificate) is string r ? $"made for the {r} role" : "made for no role")}, not for the {role} (OU={role}; deploy/make-certs.sh makes one per role)";

    /// <summary>The coordinator's signature over a worker's nonce in its registration context.</summary>
    public static byte[] SignAsCoordinator(TlsCredentials tls, ReadOnlySpan<byte> workerNonce, RegistrationContext context)
    {
        var data = ChallengeResponse.Message(ProofRole.Coordinator, workerNonce, context);
        using var rsa = tls.Certificate.GetRSAPrivateKey();
        if (rsa is not null) return rsa.SignData(data, HashAlgorithmName.SHA256, RSASignaturePadding.Pss);
        using var ecdsa = tls.Certificate.GetECDsaPrivateKey() ?? throw new CryptographicException("the certificate's key is neither RSA nor ECDSA");
        return ecdsa.SignData(data, HashAlgorithmName.SHA256);
    }

    /// <summary>
    /// Null when <paramref name="certificateDer"/> is a coordinator certificate of the run's CA and
    /// <paramref name="signature"/> its signature over <paramref name="workerNonce"/> in <paramref name="context"/>; otherwise why not.
    /// </summary>
    public static string? CoordinatorProblem(TlsCredentials tls, ReadOnlySpan<byte> certificateDer, ReadOnlySpan<byte> signature,
        ReadOnlySpan<byte> workerNonce, RegistrationContext context)
    {
        if (certificateDer.IsEmpty || signature.IsEmpty) return "the coordinator presented no coordinator certificate";
        X509Certificate2 cert;
        try { cert = X509CertificateLoader.LoadCertificate(certificateDer); }
        catch (CryptographicException) { return "the coordinator's certificate cannot be read"; }
        using (cert)
        {
            if (tls.Validator.Problem(cert) is string chain) return chain;
            if (Problem(cert, Coordinator) is string role) return $"the coordinator's {role}";
            var data = ChallengeResponse.Message(ProofRole.Coordinator, workerNonce, context);
            using var rsa = cert.GetRSAPublicKey();
            using var ecdsa = rsa is null ? cert.GetECDsaPublicKey() : null;
            bool valid = rsa?.VerifyData(data, signature, HashAlgorithmName.SHA256, RSASignaturePadding.Pss)
                         ?? ecdsa?.VerifyData(data, signature, HashAlgorithmName.SHA256) ?? false;
            return valid ? null : "the coordinator's signature does not match its certificate";
        }
    }
}
