using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Akka.Actor;
using Akka.Actor.Setup;
using Akka.Configuration;
using Akka.Event;
using Akka.Remote.Transport.DotNetty;

namespace DistRnn.Security;

/// <summary>
/// This node's TLS identity (<c>--tls-cert FILE.pfx</c>, password from <c>DISTRNN_TLS_PASSWORD</c>) and the CA
/// its peers must chain to (<c>--tls-ca FILE</c>), turned into Akka.NET's DotNetty TLS settings: <c>enable-ssl</c>,
/// mutual authentication (every connection, in both directions, presents a certificate), and
/// <see cref="PeerCertificateValidator"/> as the custom validation callback, since the HOCON has no CA-file
/// setting. A node without TLS, or with a certificate from another CA, fails the handshake and never joins.
/// </summary>
public sealed class TlsCredentials : IDisposable
{
    public const string PasswordVariable = "DISTRNN_TLS_PASSWORD";
    public const string CertOption = "--tls-cert", CaOption = "--tls-ca";

    /// <summary>The address scheme of a TLS node (Akka adds "ssl." to the transport's name).</summary>
    public const string Scheme = "akka.ssl.tcp";
    public const string PlainScheme = "akka.tcp";

    private TlsCredentials(X509Certificate2 certificate, X509Certificate2Collection authorities, string certPath, string caPath)
    {
        Certificate = certificate;
        Validator = new PeerCertificateValidator(authorities);
        CertPath = certPath;
        CaPath = caPath;
    }

    public X509Certificate2 Certificate { get; }
    public PeerCertificateValidator Validator { get; }
    public string CertPath { get; }
    public string CaPath { get; }

    /// <summary>Rejected handshakes so far (this process), with the latest reason: for logs and tests.</summary>
    public int Rejections => _rejections;
    public string? LastRejection { get; private set; }
    private int _rejections;

    /// <summary>
    /// Null when neither option is given (plain TCP); otherwise both files loaded and checked. Bad input
    /// (one option without the other, a missing or unreadable file, a wrong password, no private key, a
    /// certificate that does not chain to the CA or is expired) raises <see cref="InputException"/>.
    /// </summary>
    public static TlsCredentials? FromOptions(string? certPath, string? caPath, string? password = null)
    {
        if (certPath is null && caPath is null) return null;
        if (certPath is null) throw new InputException($"{CaOption} {caPath}: needs {CertOption} FILE.pfx too (TLS is mutual: every node presents its own certificate)");
        if (caPath is null) throw new InputException($"{CertOption} {certPath}: needs {CaOption} FILE too (the CA that peers' certificates must chain to)");
        password ??= Environment.GetEnvironmentVariable(PasswordVariable);
        var authorities = LoadAuthorities(caPath);
        var cert = LoadCertificate(certPath, password);
        var creds = new TlsCredentials(cert, authorities, certPath, caPath);
        if (creds.Validator.Problem(cert) is string problem)
        {
            creds.Dispose();
            throw new InputException($"{CertOption} {certPath}: {problem} ({CaOption} {caPath})");
        }
        return creds;
    }

    private static X509Certificate2 LoadCertificate(string path, string? password)
    {
        if (!File.Exists(path)) throw new InputException($"{CertOption} {path}: file not found");
        X509Certificate2 cert;
        try { cert = X509CertificateLoader.LoadPkcs12FromFile(path, password, X509KeyStorageFlags.DefaultKeySet); }
        catch (CryptographicException e)
        {
            string hint = string.IsNullOrEmpty(password) ? $"set {PasswordVariable} if it has a password" : $"is {PasswordVariable} right?";
            throw new InputException($"{CertOption} {path}: cannot be read as a PKCS#12 (.pfx) file with its key ({hint}; {e.Message.TrimEnd('.')})");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InputException($"{CertOption} {path}: cannot be read ({e.Message})");
        }
        if (!cert.HasPrivateKey)
        {
            cert.Dispose();
            throw new InputException($"{CertOption} {path}: holds no private key (export the node's certificate together with its key)");
        }
        return cert;
    }

    /// <summary>One CA certificate (PEM or DER) or a PEM bundle of several.</summary>
    private static X509Certificate2Collection LoadAuthorities(string path)
    {
        if (!File.Exists(path)) throw new InputException($"{CaOption} {path}: file not found");
        var result = new X509Certificate2Collection();
        try
        {
            var bytes = File.ReadAllBytes(path);
            var text = System.Text.Encoding.ASCII.GetString(bytes);
            if (text.Contains("-----BEGIN CERTIFICATE-----", StringComparison.Ordinal)) result.ImportFromPem(text);
            else result.Add(X509CertificateLoader.LoadCertificate(bytes));
        }
        catch (CryptographicException e) { throw new InputException($"{CaOption} {path}: not a certificate in PEM or DER form ({e.Message.TrimEnd('.')})"); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new InputException($"{CaOption} {path}: cannot be read ({e.Message})"); }
        if (result.Count == 0) throw new InputException($"{CaOption} {path}: holds no certificate");
        return result;
    }

    /// <summary>The HOCON that switches the transport to TLS (the certificate itself comes through <see cref="SslSetup"/>).</summary>
    public static string Hocon => """
        akka.remote.dot-netty.tcp {
          enable-ssl = true
          ssl {
            suppress-validation = false
            require-mutual-authentication = true
            validate-certificate-hostname = false
          }
        }
        """;

    /// <summary>The DotNetty TLS setup: this node's certificate, mutual authentication, and the run's CA as the only trust anchor.</summary>
    public DotNettySslSetup SslSetup => new(Certificate, suppressValidation: false, requireMutualAuthentication: true,
        validateCertificateHostname: false, customValidator: Validate);

    private bool Validate(X509Certificate2? certificate, X509Chain? chain, string? remotePeer, System.Net.Security.SslPolicyErrors errors, ILoggingAdapter? log)
    {
        var problem = Validator.Problem(certificate, chain);
        if (problem is null) return true;
        Interlocked.Increment(ref _rejections);
        LastRejection = $"TLS: refused {remotePeer ?? "a peer"}: {problem}";
        log?.Warning("{0}", LastRejection);
        return false;
    }

    /// <summary><paramref name="config"/> with TLS switched on, as the setup an actor system is created with.</summary>
    public ActorSystemSetup Bootstrap(Config config) =>
        BootstrapSetup.Create().WithConfig(ConfigurationFactory.ParseString(Hocon).WithFallback(config)).And(SslSetup);

    /// <summary>Creates an actor system: over TLS when <paramref name="tls"/> is given, plain TCP otherwise.</summary>
    public static ActorSystem CreateSystem(string name, Config config, TlsCredentials? tls) =>
        tls is null ? ActorSystem.Create(name, config) : ActorSystem.Create(name, tls.Bootstrap(config));

    public static string SchemeFor(TlsCredentials? tls) => tls is null ? PlainScheme : Scheme;

    public void Dispose() => Certificate.Dispose();
}
