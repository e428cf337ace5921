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
            // a run far longer than needed, stopped (Ctrl+C) once backups happened: on a loaded machine a worker may
            // leave and join again before it takes part, and the test must not depend on when
            var coordinator = c.Coordinator(100_000, minWorkers: 3, extra: ["--checkpoint-every", "100000"]);
            c.Worker();
            c.Worker();
            var slow = c.Worker(slowdown: 100);   // this model's steps are a few ms: make it slow enough to be called slow
            coordinator.WaitForLine("backups", TimeSpan.FromSeconds(150));
            var after = coordinator.Lines.Count;
            coordinator.WaitForLine(TrainEvents.StepAtLeast(1), TimeSpan.FromSeconds(60), "a step after the backups", after);
            coordinator.Interrupt();
            Assert.True(coordinator.WaitForExit(TimeSpan.FromSeconds(60)) == 1, "an interrupted run exits 1");
            var (step, sha) = TrainEvents.Interrupted(coordinator);
            Assert.Equal(c.Reference(step), sha);
            // the slow worker is slow, not faulty: never excluded, and still there when the run stops
            Assert.DoesNotContain(coordinator.Lines, l => l.Text.Contains("excluded"));
            Assert.False(slow.HasExited, $"the slow worker ended during the run\n{slow.Tail()}");
        });
    }
}
