using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using DistRnn.Security;

namespace DistRnn.Tests.Security;

/// <summary>
/// A development CA and node certificates made at test time with .NET's own <see cref="CertificateRequest"/>
/// (no openssl needed), written as the files the CLI takes: node.pfx (with key, password-protected) and ca.pem.
/// </summary>
internal sealed class TestCertificates
{
    public const string Password = "test-pfx-password";

    private readonly X509Certificate2 _ca;
    public string Dir { get; }
    public string CaPath { get; }

    public TestCertificates(string dir, string caName = "DistRnn Test CA")
    {
        Dir = dir;
        using var key = RSA.Create(2048);
        var req = new CertificateRequest($"CN={caName}", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        req.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 1, true));
        req.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        req.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(req.PublicKey, false));
        _ca = req.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
        CaPath = Path.Combine(dir, $"{Sanitize(caName)}.pem");
        File.WriteAllText(CaPath, _ca.ExportCertificatePem() + "\n");
    }

    /// <summary>
    /// A node certificate signed by this CA (both server and client use), as a PFX with its key; its role (OU) is
    /// <paramref name="role"/>, by default the coordinator's for a name starting with "coordinator", else the worker's
    /// ("" for none).
    /// </summary>
    public string Node(string name, DateTimeOffset? notAfter = null, string? password = Password, string? role = null)
    {
        role ??= name.StartsWith("coordinator", StringComparison.Ordinal) ? CertificateRole.Coordinator : CertificateRole.Worker;
        using var key = RSA.Create(2048);
        var req = new CertificateRequest(role.Length == 0 ? $"CN={name}" : $"CN={name}, OU={role}", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        req.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        req.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment, true));
        req.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            [new Oid("1.3.6.1.5.5.7.3.1"), new Oid("1.3.6.1.5.5.7.3.2")], false)); // serverAuth, clientAuth
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(IPAddress.Loopback);
        san.AddDnsName("localhost");
        req.CertificateExtensions.Add(san.Build());
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7f;
        using var signed = req.Create(_ca, DateTimeOffset.UtcNow.AddDays(-1), notAfter ?? DateTimeOffset.UtcNow.AddDays(10), serial);
        using var withKey = signed.CopyWithPrivateKey(key);
        var path = Path.Combine(Dir, $"{Sanitize(name)}.pfx");
        File.WriteAllBytes(path, withKey.Export(X509ContentType.Pfx, password));
        return path;
    }

    private static string Sanitize(string s) => string.Concat(s.Select(c => char.IsLetterOrDigit(c) ? c : '-'));
}
