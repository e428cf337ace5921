using DistRnn.Security;

namespace DistRnn.Tests.Security;

public class TlsCredentialsTests
{
    [Fact]
    public void Loads_a_node_certificate_that_chains_to_the_ca()
    {
        var certs = new TestCertificates(TestUtil.TempDir());
        using var tls = TlsCredentials.FromOptions(certs.Node("node-a"), certs.CaPath, TestCertificates.Password)!;
        Assert.True(tls.Certificate.HasPrivateKey);
        Assert.Null(tls.Validator.Problem(tls.Certificate));
        Assert.Null(TlsCredentials.FromOptions(null, null));
    }

    [Fact]
    public void Peer_from_another_ca_or_without_certificate_is_refused()
    {
        var dir = TestUtil.TempDir();
        var ours = new TestCertificates(dir, "Our CA");
        var theirs = new TestCertificates(dir, "Their CA");
        using var tls = TlsCredentials.FromOptions(ours.Node("node-a"), ours.CaPath, TestCertificates.Password)!;
        using var stranger = TlsCredentials.FromOptions(theirs.Node("node-x"), theirs.CaPath, TestCertificates.Password)!;
        Assert.Contains("does not chain to the run's CA", tls.Validator.Problem(stranger.Certificate));
        Assert.Contains("no certificate", tls.Validator.Problem(null));
    }

    [Fact]
    public void Bad_tls_options_are_bad_input_naming_the_problem()
    {
        var dir = TestUtil.TempDir();
        var ours = new TestCertificates(dir, "Our CA");
        var theirs = new TestCertificates(dir, "Their CA");
        var node = ours.Node("node-a");

        Assert.Contains("needs --tls-ca", Assert.Throws<InputException>(() => TlsCredentials.FromOptions(node, null, TestCertificates.Password)).Message);
        Assert.Contains("needs --tls-cert", Assert.Throws<InputException>(() => TlsCredentials.FromOptions(null, ours.CaPath)).Message);
        Assert.Contains("file not found", Assert.Throws<InputException>(() => TlsCredentials.FromOptions(node + ".x", ours.CaPath, TestCertificates.Password)).Message);
        Assert.Contains("--tls-ca", Assert.Throws<InputException>(() => TlsCredentials.FromOptions(node, ours.CaPath + ".x", TestCertificates.Password)).Message);

        var wrong = Assert.Throws<InputException>(() => TlsCredentials.FromOptions(node, ours.CaPath, "not the password")).Message;
        Assert.Contains($"--tls-cert {node}", wrong);
        Assert.Contains(TlsCredentials.PasswordVariable, wrong);

        var junk = Path.Combine(dir, "junk.pem");
        File.WriteAllText(junk, "hello");
        Assert.Contains("--tls-ca", Assert.Throws<InputException>(() => TlsCredentials.FromOptions(node, junk, TestCertificates.Password)).Message);
        Assert.Contains("--tls-cert", Assert.Throws<InputException>(() => TlsCredentials.FromOptions(junk, ours.CaPath, TestCertificates.Password)).Message);

        // our own certificate must chain to the CA we trust, and be valid now
        Assert.Contains("does not chain", Assert.Throws<InputException>(() => TlsCredentials.FromOptions(node, theirs.CaPath, TestCertificates.Password)).Message);
        var expired = ours.Node("old", notAfter: DateTimeOffset.UtcNow.AddHours(-1));
        Assert.Contains("does not chain", Assert.Throws<InputException>(() => TlsCredentials.FromOptions(expired, ours.CaPath, TestCertificates.Password)).Message);
    }
}

/// <summary>A fact that is reported as skipped, with the reason, when openssl is not on PATH.</summary>
public sealed class OpensslFactAttribute : FactAttribute
{
    public OpensslFactAttribute()
    {
        if (!OnPath("openssl")) Skip = "openssl is not on PATH: deploy/make-certs.sh needs it (apt-get install openssl)";
        else if (!OnPath("bash")) Skip = "bash is not on PATH: deploy/make-certs.sh is a bash script";
    }

    private static bool OnPath(string tool) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator)
            .Any(d => d.Length > 0 && File.Exists(Path.Combine(d, tool)));
}

public class MakeCertsScriptTests
{
    private static string RepoRoot()
    {
        var d = new DirectoryInfo(AppContext.BaseDirectory);
        while (d is not null && !File.Exists(Path.Combine(d.FullName, "DistRnn.sln"))) d = d.Parent;
        return d?.FullName ?? throw new InvalidOperationException("DistRnn.sln not found above the test binaries");
    }

    [OpensslFact]
    public void Script_makes_a_CA_and_node_certificates_that_load_and_chain()
    {
        var dir = TestUtil.TempDir();
        var psi = new System.Diagnostics.ProcessStartInfo("bash", [Path.Combine(RepoRoot(), "deploy", "make-certs.sh"), dir, "coordinator", "worker-1"])
        {
            RedirectStandardOutput = true, RedirectStandardError = true,
        };
        psi.Environment["DISTRNN_TLS_PASSWORD"] = "script-test-pw";
        using var p = System.Diagnostics.Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        Assert.True(p.WaitForExit(120_000), "make-certs.sh did not finish within 2 minutes");
        Assert.True(p.ExitCode == 0, $"make-certs.sh failed: {stderr.Result}");
        Assert.Contains("worker-1.pfx", stdout.Result);

        using var coordinator = TlsCredentials.FromOptions(Path.Combine(dir, "coordinator.pfx"), Path.Combine(dir, "ca.pem"), "script-test-pw")!;
        using var worker = TlsCredentials.FromOptions(Path.Combine(dir, "worker-1.pfx"), Path.Combine(dir, "ca.pem"), "script-test-pw")!;
        Assert.Null(coordinator.Validator.Problem(worker.Certificate));
        Assert.Null(worker.Validator.Problem(coordinator.Certificate));
        Assert.Throws<InputException>(() => TlsCredentials.FromOptions(Path.Combine(dir, "worker-1.pfx"), Path.Combine(dir, "ca.pem"), "wrong"));
    }
}
