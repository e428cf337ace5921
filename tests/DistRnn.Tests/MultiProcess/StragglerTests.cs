namespace DistRnn.Tests.MultiProcess;

/// <summary>
/// One worker process 100× slower than the others (the hidden --slowdown knob): idle workers recompute its
/// subtrees as backup tasks, the first result wins, and the bits do not change. (Step times with and without
/// backups are measured by deploy/straggler.sh, not asserted here.)
/// </summary>
[Collection("MultiProcess")]
public sealed class StragglerTests
{
    [Fact]
    public void Idle_workers_back_up_a_straggler_and_the_bits_do_not_change()
    {
        using var c = new ProcessCluster();
        c.Explain(() =>
        {
            var coordinator = c.Coordinator(40, minWorkers: 3);
            c.Worker();
            c.Worker();
            var slow = c.Worker(slowdown: 100);   // this model's steps are a few ms: make it slow enough to be called slow
            Assert.True(coordinator.WaitForExit(TimeSpan.FromSeconds(150)) == 0, "the coordinator failed");
            Assert.Equal(c.Reference(40), TrainEvents.ParamsSha256(coordinator));
            Assert.Contains(coordinator.Lines, l => l.Text.Contains("backups"));
            // the slow worker is slow, not faulty: never excluded, and with the run to its end (whether Akka saw it
            // unreachable for a moment on a busy machine is Akka's business, not this test's)
            Assert.DoesNotContain(coordinator.Lines, l => l.Text.Contains("excluded"));
            Assert.True(slow.WaitForExit(TimeSpan.FromSeconds(30)) == 0, $"the slow worker did not end cleanly\n{slow.Tail()}");
            Assert.Contains(slow.Lines, l => l.Text.Contains("the run is complete"));
        });
    }
}
