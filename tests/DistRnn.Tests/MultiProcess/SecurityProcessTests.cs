using DistRnn.Tests.Security;

namespace DistRnn.Tests.MultiProcess;

/// <summary>
/// The security options on the real executables: a worker process with the wrong secret is refused, exits 2 and
/// says why, the coordinator logs the refusal, and the run's params_sha256 equals the single-process reference;
/// over mutual TLS a run trains to the same bits while a plain-TCP worker never gets in.
/// </summary>
[Collection("MultiProcess")]
public sealed class SecurityProcessTests
{
    private static string SecretFile(string dir, string name, string text)
    {
        var path = Path.Combine(dir, name);
        File.WriteAllText(path, text + "\n");
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        return path;
    }

    [Fact]
    public void A_worker_process_with_the_wrong_secret_is_refused_and_exits_2_and_the_run_is_unchanged()
    {
        using var c = new ProcessCluster();
        c.Explain(() =>
        {
            var secret = SecretFile(c.Dir, "run.secret", "3f1d0c8a5b7e4d2f9a6c1b0e8d7f6a5c");
            var wrong = SecretFile(c.Dir, "wrong.secret", "00000000000000000000000000000000");
            var coordinator = c.Coordinator(6, minWorkers: 1, extra: ["--secret-file", secret]);

            var intruder = c.Worker(giveUpAfter: 30, extra: ["--secret-file", wrong]);
            Assert.Equal(2, intruder.WaitForExit(TimeSpan.FromSeconds(60)));
            Assert.Contains(intruder.Lines, l => l.Error && l.Text.Contains("refused") && l.Text.Contains("does not prove this run's secret"));
            coordinator.WaitForLine(l => l.Text.Contains("refused a connection") && l.Text.Contains("another secret"), TimeSpan.FromSeconds(20), "the coordinator's refusal");

            var worker = c.Worker(extra: ["--secret-file", secret]);
            Assert.Equal(0, coordinator.WaitForExit(TimeSpan.FromMinutes(3)));
            Assert.Equal(0, worker.WaitForExit(TimeSpan.FromSeconds(60)));
            Assert.Equal(c.Reference(6), TrainEvents.ParamsSha256(coordinator));
        });
    }

    [Fact]
    public void A_mutual_TLS_run_of_processes_trains_to_the_reference_and_a_plain_TCP_worker_never_joins()
    {
        using var c = new ProcessCluster();
        c.Explain(() =>
        {
            var certs = new TestCertificates(c.Dir, "Process CA");
            string[] Tls(string node) => ["--tls-cert", certs.Node(node, password: null), "--tls-ca", certs.CaPath];
            var coordinator = c.Coordinator(6, minWorkers: 1, extra: Tls("coordinator"));

            var plain = c.Worker(giveUpAfter: 8);
            Assert.Equal(1, plain.WaitForExit(TimeSpan.FromSeconds(60))); // never registered: gave up
            Assert.DoesNotContain(plain.Lines, l => l.Text.Contains("registered with the coordinator"));

            var worker = c.Worker(extra: Tls("worker-1"));
            Assert.Equal(0, coordinator.WaitForExit(TimeSpan.FromMinutes(3)));
            Assert.Equal(0, worker.WaitForExit(TimeSpan.FromSeconds(60)));
            Assert.Equal(c.Reference(6), TrainEvents.ParamsSha256(coordinator));
        });
    }

    [Fact]
    public void A_worker_with_a_missing_secret_file_or_half_the_TLS_options_exits_2_naming_the_problem()
    {
        using var c = new ProcessCluster();
        c.Explain(() =>
        {
            var missing = Path.Combine(c.Dir, "missing.secret");
            var w = c.Worker(extra: ["--secret-file", missing]);
            Assert.Equal(2, w.WaitForExit(TimeSpan.FromSeconds(60)));
            Assert.Contains(w.Lines, l => l.Error && l.Text.Contains($"--secret-file {missing}") && l.Text.Contains("not found"));
            var certs = new TestCertificates(c.Dir, "Worker CA");
            var half = c.Worker(extra: ["--tls-ca", certs.CaPath]);
            Assert.Equal(2, half.WaitForExit(TimeSpan.FromSeconds(60)));
            Assert.Contains(half.Lines, l => l.Error && l.Text.Contains("needs --tls-cert"));
        });
    }
}
