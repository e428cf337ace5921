namespace DistRnn.Tests.MultiProcess;

/// <summary>Nothing waits forever: too few workers, or no coordinator, ends with exit 1 and says why.</summary>
[Collection("MultiProcess")]
public sealed class NoHangTests
{
    [Fact]
    public void Coordinator_below_min_workers_reports_the_count_and_gives_up_after_the_wait_timeout()
    {
        using var c = new ProcessCluster();
        c.Explain(() =>
        {
            // the wait is long enough for the one worker to start and register on a loaded machine, so the count
            // the coordinator gives up with is 1 (with a wait of a few seconds it was 0 or 1, whichever came first)
            var coordinator = c.Coordinator(10, minWorkers: 2, waitTimeout: 25);
            var worker = c.Worker();
            worker.WaitForLine("registered with the coordinator", TimeSpan.FromSeconds(25));
            Assert.Equal(1, coordinator.WaitForExit(TimeSpan.FromSeconds(60)));
            // it said how many it had while waiting, and why it stopped
            Assert.Contains(coordinator.Lines, l => l.Text.Contains("1 of 2"));
            Assert.Contains(coordinator.Lines, l => l.Error && l.Text.Contains("only 1 of 2") && l.Text.Contains("--wait-timeout"));
            Assert.DoesNotContain(coordinator.StdoutLines, l => TrainEvents.Event(l) == "step");
        });
    }

    [Fact]
    public void Worker_without_a_coordinator_retries_with_backoff_then_gives_up()
    {
        using var c = new ProcessCluster();   // nothing listens on its port
        c.Explain(() =>
        {
            var worker = c.Worker(giveUpAfter: 14);
            Assert.Equal(1, worker.WaitForExit(TimeSpan.FromSeconds(60)));
            Assert.Contains(worker.Lines, l => l.Text.Contains($"cannot reach the coordinator at {c.Listen}"));
            Assert.Contains(worker.Lines, l => l.Text.Contains("retrying in"));
            Assert.Contains(worker.Lines, l => l.Text.Contains("giving up"));
        });
    }
}
