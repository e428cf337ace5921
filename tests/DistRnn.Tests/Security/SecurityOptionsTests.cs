using DistRnn.Tests.Cli;

namespace DistRnn.Tests.Security;

/// <summary>Bad security options are bad input: exit 2, one line naming the option and the file, nothing written.</summary>
[Collection("Console")]
public class SecurityOptionsTests
{
    private static async Task<CliRunner.Result> Train(string outDir, params string[] extra) =>
        await CliRunner.Run(["train", "--workers", "1", "--steps", "2", "--hidden", "8", "--seq", "8", "--batch", "2", "--out", outDir, .. extra]);

    private static void AssertBadInput(CliRunner.Result r, string outDir, params string[] mentions)
    {
        Assert.Equal(2, r.Code);
        var line = Assert.Single(r.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("error: ", line);
        foreach (var m in mentions) Assert.Contains(m, line);
        Assert.False(Directory.Exists(outDir), "a refused run left its output folder behind");
    }

    [Fact]
    public async Task A_missing_or_empty_secret_file_is_refused_before_anything_starts()
    {
        var dir = TestUtil.TempDir();
        var outDir = Path.Combine(dir, "run");
        var missing = Path.Combine(dir, "no-such.secret");
        AssertBadInput(await Train(outDir, "--secret-file", missing), outDir, "--secret-file", missing, "not found");
        var empty = Path.Combine(dir, "empty.secret");
        File.WriteAllText(empty, "\n");
        AssertBadInput(await Train(outDir, "--secret-file", empty), outDir, "--secret-file", empty, "empty");
    }

    [Fact]
    public async Task Incomplete_or_unreadable_TLS_options_are_refused()
    {
        var dir = TestUtil.TempDir();
        var outDir = Path.Combine(dir, "run");
        var certs = new TestCertificates(dir, "Options CA");
        var pfx = certs.Node("node");
        AssertBadInput(await Train(outDir, "--tls-cert", pfx), outDir, "--tls-cert", "needs --tls-ca");
        AssertBadInput(await Train(outDir, "--tls-ca", certs.CaPath), outDir, "--tls-ca", "needs --tls-cert");
        if (Environment.GetEnvironmentVariable("DISTRNN_TLS_PASSWORD") is null) // the node's PFX has a password; none is given
            AssertBadInput(await Train(outDir, "--tls-cert", pfx, "--tls-ca", certs.CaPath), outDir, "--tls-cert", pfx, "DISTRNN_TLS_PASSWORD");
        var other = new TestCertificates(dir, "Other CA");
        var stranger = certs.Node("stranger", password: null);
        AssertBadInput(await Train(outDir, "--tls-cert", stranger, "--tls-ca", other.CaPath), outDir, "--tls-cert", "does not chain");
    }
}
