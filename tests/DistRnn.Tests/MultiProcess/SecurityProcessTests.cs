using DistRnn.Transport;
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

    /// <summary>
    /// With a secret and no TLS the data channel's and the peer links' frames carry MACs (here over loopback too:
    /// DISTRNN_DATA_CHANNEL=signed on every node): the tree run has the reference bits, every worker's channel signs its
    /// frames, and no frame failed its check (a failed one would close the channel and send the tensors over Akka).
    /// </summary>
    [Fact]
    public void With_a_secret_the_data_channels_frames_are_signed_and_the_tree_run_has_the_reference_bits()
    {
        using var c = new ProcessCluster(env: new Dictionary<string, string> { ["DISTRNN_DATA_CHANNEL"] = "signed" });
        c.Explain(() =>
        {
            var secret = SecretFile(c.Dir, "run.secret", "3f1d0c8a5b7e4d2f9a6c1b0e8d7f6a5c");
            var coordinator = c.Coordinator(20, minWorkers: 3, extra: ["--secret-file", secret, "--data-plane", "tree"]);
            var workers = Enumerable.Range(0, 3).Select(_ => c.Worker(extra: ["--secret-file", secret])).ToList();
            Assert.Equal(0, coordinator.WaitForExit(TimeSpan.FromMinutes(3)));
            foreach (var w in workers) Assert.Equal(0, w.WaitForExit(TimeSpan.FromSeconds(60)));
            Assert.Equal(c.Reference(20), TrainEvents.ParamsSha256(coordinator));
            foreach (var w in workers) Assert.Contains(w.Lines, l => l.Text.Contains("every frame signed"));
            var nodes = workers.Prepend(coordinator);
            Assert.DoesNotContain(nodes.SelectMany(n => n.Lines), l => l.Text.Contains("MAC check") || l.Text.Contains("refused a peer link"));
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

    /// <summary>Resident and peak resident memory of process <paramref name="pid"/> in bytes (Linux /proc).</summary>
    private static (long Rss, long Peak) Memory(int pid)
    {
        long Field(string[] lines, string name) =>
            long.Parse(lines.First(l => l.StartsWith(name + ":")).Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) * 1024;
        var lines = File.ReadAllLines($"/proc/{pid}/status");
        return (Field(lines, "VmRSS"), Field(lines, "VmHWM"));
    }

    /// <summary>
    /// Issue 12 B, pre-authentication buffering: 80 connections to the coordinator's Akka port and 80 to a registered
    /// worker's, each declaring a frame of almost 64 MiB (half of them) or just under the node's own frame, and sending
    /// 16 MiB of zeros, held for longer than the handshake may take. On 6517c81 (64 MiB frames everywhere, no
    /// handshake) the coordinator's peak resident memory grew by ≈ 1.6 GB; now every node's frames are sized to its
    /// model (1 MiB here; a remote worker starts there), at most 4 connections are in the secret's handshake at once,
    /// and each is closed within 5 s. The run then goes on to the reference bits and writes its checkpoints, and the
    /// flood costs a bounded number of log lines.
    /// </summary>
    [Fact]
    public void A_flood_of_unauthenticated_frames_costs_a_node_under_300_MB_and_the_run_is_unchanged()
    {
        if (!OperatingSystem.IsLinux()) return; // reads /proc
        using var c = new ProcessCluster();
        c.Explain(() =>
        {
            var secret = SecretFile(c.Dir, "run.secret", "3f1d0c8a5b7e4d2f9a6c1b0e8d7f6a5c");
            var coordinator = c.Coordinator(30, minWorkers: 2, extra: ["--secret-file", secret, "--checkpoint-every", "10"]);
            int workerPort = ProcessCluster.FreePort();
            var first = c.Worker(extra: ["--secret-file", secret, "--port", workerPort.ToString()]);
            first.WaitForLine(l => l.Text.Contains("registered with the coordinator"), TimeSpan.FromSeconds(60), "the first worker's registration");
            Thread.Sleep(1000);
            var before = (Coordinator: Memory(coordinator.Pid), Worker: Memory(first.Pid));

            // little-endian length prefixes, as Akka's framing reads them: almost the largest frame any node takes, and
            // (a variation) just under the frame these nodes take for their model
            int[] declared = [64 * 1024 * 1024 - 1024, AkkaConfig.MinFrameBytes - 2048];
            var zeros = new byte[1024 * 1024];
            var flood = Enumerable.Range(0, 160).Select(i => Task.Run(async () =>
            {
                var header = BitConverter.GetBytes(declared[i % 2]);
                using var client = new System.Net.Sockets.TcpClient();
                try
                {
                    await client.ConnectAsync(c.Host, i < 80 ? c.Port : workerPort);
                    var stream = client.GetStream();
                    await stream.WriteAsync(header);
                    for (int mib = 0; mib < 16; mib++) await stream.WriteAsync(zeros);
                    await Task.Delay(TimeSpan.FromSeconds(7)); // past the handshake's time limit
                }
                catch (Exception e) when (e is System.Net.Sockets.SocketException or IOException) { } // closed by the node: the point
            })).ToArray();
            Assert.True(Task.WaitAll(flood, TimeSpan.FromSeconds(90)), "the flood did not finish");
            foreach (var (node, was) in new[] { (coordinator, before.Coordinator), (first, before.Worker) })
            {
                long growth = Memory(node.Pid).Peak - was.Rss;
                Assert.True(growth < 300L << 20, $"{node.Name}: peak resident memory grew by {growth >> 20} MB during the flood");
                Assert.False(node.HasExited, $"{node.Name} ended during the flood");
                Assert.True(node.Lines.Count(l => l.Error) < 100, $"{node.Name}: {node.Lines.Count(l => l.Error)} lines on stderr for the flood");
            }

            var second = c.Worker(extra: ["--secret-file", secret]);
            Assert.Equal(0, coordinator.WaitForExit(TimeSpan.FromMinutes(3)));
            Assert.Equal(0, first.WaitForExit(TimeSpan.FromSeconds(60)));
            Assert.Equal(0, second.WaitForExit(TimeSpan.FromSeconds(60)));
            Assert.Equal(c.Reference(30), TrainEvents.ParamsSha256(coordinator));
            Assert.Contains(DistRnn.Coordinator.Checkpoints.CheckpointStore.List(c.RunDir), x => x.Step == 30); // written after the flood
            Assert.Contains(coordinator.Lines, l => l.Text.Contains("refused a connection"));
        });
    }
}
