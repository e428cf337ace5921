using DistRnn.Tests.Cluster;

namespace DistRnn.Tests.MultiProcess;

/// <summary>
/// The built programs as separate processes on loopback: a coordinator (`train --listen … --min-workers 2`)
/// and two `distrnn-worker --join …` at hidden 512 (megabytes per message each way), against `train --workers 0`;
/// and a worker's bad command line.
/// </summary>
[Collection("MultiProcess")]
public sealed class ProcessRunTests
{
    private static readonly string[] Hidden512 =
        ["--hidden", "512", "--seq", "16", "--batch", "8", "--shards", "8", "--precision", "float64", "--seed", "9"];

    [Fact]
    public void Coordinator_and_two_worker_processes_match_the_single_process_bits_and_the_workers_exit_0()
    {
        using var c = new ProcessCluster(model: Hidden512);
        c.Explain(() =>
        {
            var coordinator = c.Coordinator(3, minWorkers: 2);
            var workers = new[] { c.Worker(giveUpAfter: 90), c.Worker(giveUpAfter: 90) };
            Assert.True(coordinator.WaitForExit(TimeSpan.FromSeconds(120)) == 0, "the coordinator failed");
            foreach (var w in workers)
            {
                Assert.True(w.WaitForExit(TimeSpan.FromSeconds(30)) == 0, $"a worker did not exit 0\n{w.Tail()}");
                Assert.Contains(w.Lines, l => l.Text.Contains("the run is complete"));
            }
            // no frame dropped, no error of our serializer or our actors (Akka's reaction to a busy machine aside)
            var akkaErrors = workers.Prepend(coordinator).SelectMany(p => p.Lines).Select(l => l.Text)
                .Where(t => t.Contains("oversized", StringComparison.OrdinalIgnoreCase) || (t.StartsWith("[akka") && !AkkaLog.IsLoadReaction(t)));
            Assert.Empty(akkaErrors);
            Assert.Equal(c.Reference(3), TrainEvents.ParamsSha256(coordinator));
        });
    }

    [Fact]
    public void A_worker_with_bad_options_exits_2_with_one_line()
    {
        using var c = new ProcessCluster();
        c.Explain(() =>
        {
            var worker = c.Program("worker", Executables.Worker, "--join", "nonsense");
            Assert.Equal(2, worker.WaitForExit(TimeSpan.FromSeconds(30)));
            var line = Assert.Single(worker.Lines);
            Assert.True(line.Error);
            Assert.Contains("--join nonsense", line.Text);
        });
    }
}
