using System.Text.Json;

namespace DistRnn.Tests.Cluster;

/// <summary>
/// The built programs as separate processes on loopback: a coordinator (`train --listen … --min-workers 2`)
/// and two `distrnn-worker --join …` at hidden 512 (megabytes per message each way), against `train --workers 0`.
/// </summary>
public sealed class MultiProcessTests
{
    private static readonly string[] Model =
        ["--hidden", "512", "--seq", "16", "--batch", "8", "--shards", "8", "--steps", "3", "--precision", "float64", "--seed", "9", "--checkpoint-every", "100"];

    private static string DoneHash(string stdout)
    {
        var done = stdout.Split('\n').Select(l => l.Trim()).LastOrDefault(l => l.StartsWith("{\"event\":\"done\""))
            ?? throw new Xunit.Sdk.XunitException("no done event in:\n" + stdout);
        return JsonDocument.Parse(done).RootElement.GetProperty("params_sha256").GetString()!;
    }

    [Fact]
    public async Task Coordinator_and_two_worker_processes_match_the_single_process_bits_and_the_workers_exit_0()
    {
        var limit = TimeSpan.FromSeconds(120);
        string dir = TestUtil.TempDir();
        int port = NodeProcess.FreePort();
        string endpoint = $"127.0.0.1:{port}";

        using var coordinator = NodeProcess.Coordinator(["train", "--workers", "0", "--listen", endpoint, "--min-workers", "2", "--wait-timeout", "90",
            .. Model, "--out", Path.Combine(dir, "cluster"), "--json"]);
        using var w1 = NodeProcess.Worker("--join", endpoint, "--threads", "1", "--give-up-after", "90");
        using var w2 = NodeProcess.Worker("--join", endpoint, "--threads", "1", "--give-up-after", "90");
        int coordinatorExit = await coordinator.ExitAsync(limit);
        int exit1 = await w1.ExitAsync(TimeSpan.FromSeconds(30));
        int exit2 = await w2.ExitAsync(TimeSpan.FromSeconds(30));
        string all = $"coordinator:\n{coordinator.Stdout}{coordinator.Stderr}\nworker 1:\n{w1.Stderr}\nworker 2:\n{w2.Stderr}";
        Assert.True(coordinatorExit == 0, $"coordinator exit {coordinatorExit}\n{all}");
        Assert.True(exit1 == 0 && exit2 == 0, $"worker exits {exit1}, {exit2}\n{all}");
        Assert.Contains("the run is complete", w1.Stderr);
        Assert.Contains("the run is complete", w2.Stderr);
        Assert.DoesNotContain("oversized", all, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("[akka", all);           // no Akka error of any kind

        using var single = NodeProcess.Coordinator(["train", "--workers", "0", .. Model, "--out", Path.Combine(dir, "single"), "--json"]);
        Assert.Equal(0, await single.ExitAsync(limit));
        Assert.Equal(DoneHash(single.Stdout), DoneHash(coordinator.Stdout));
    }

    [Fact]
    public async Task A_worker_without_a_coordinator_retries_with_backoff_and_says_so()
    {
        int port = NodeProcess.FreePort();
        using var worker = NodeProcess.Worker("--join", $"127.0.0.1:{port}", "--threads", "1", "--give-up-after", "8");
        int exit = await worker.ExitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(1, exit);
        Assert.Contains($"cannot reach the coordinator at 127.0.0.1:{port}", worker.Stderr);
        Assert.Contains("retrying in", worker.Stderr);
        Assert.Contains("giving up", worker.Stderr);
    }

    [Fact]
    public async Task A_coordinator_without_enough_workers_gives_up_after_the_wait_timeout_with_exit_1()
    {
        int port = NodeProcess.FreePort();
        using var coordinator = NodeProcess.Coordinator("train", "--workers", "0", "--listen", $"127.0.0.1:{port}", "--min-workers", "2",
            "--wait-timeout", "2", "--hidden", "8", "--steps", "2", "--out", Path.Combine(TestUtil.TempDir(), "run"));
        Assert.Equal(1, await coordinator.ExitAsync(TimeSpan.FromSeconds(60)));
        Assert.Contains("waiting for workers: 0 of 2 registered", coordinator.Stdout);
        Assert.Contains("only 0 of 2 workers registered within 2 s", coordinator.Stderr);
    }

    [Fact]
    public async Task A_worker_with_bad_options_exits_2_with_one_line()
    {
        using var worker = NodeProcess.Worker("--join", "nonsense");
        Assert.Equal(2, await worker.ExitAsync(TimeSpan.FromSeconds(30)));
        Assert.Single(worker.Stderr.Trim().Split('\n'));
        Assert.Contains("--join nonsense", worker.Stderr);
    }
}
