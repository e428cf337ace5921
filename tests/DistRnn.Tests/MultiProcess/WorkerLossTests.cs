namespace DistRnn.Tests.MultiProcess;

/// <summary>
/// Real processes: a coordinator and worker nodes on loopback, a worker killed (SIGKILL), stopped (SIGTERM)
/// or added mid-run. Whatever happens to the workers, the parameters must come out bit-identical to a
/// failure-free run. Workers are paced with the hidden --slowdown knob so that "mid-run" is mid-run on a
/// busy machine; it changes when results arrive, never their bits.
/// </summary>
[Collection("MultiProcess")]
public sealed class WorkerLossTests
{
    private static readonly TimeSpan Start = TimeSpan.FromSeconds(90), Run = TimeSpan.FromSeconds(150);

    [Fact]
    public void Worker_killed_at_step_20_of_60_changes_no_bit()
    {
        using var c = new ProcessCluster();
        c.Explain(() =>
        {
            var coordinator = c.Coordinator(60, minWorkers: 3);
            var workers = Enumerable.Range(0, 3).Select(_ => c.Worker(slowdown: 3)).ToList();

            coordinator.WaitForLine(TrainEvents.StepAtLeast(20), Start, "step 20");
            workers[1].Kill();
            int killedAt = coordinator.Lines.Count;
            long stepAtKill = TrainEvents.Steps(coordinator).Max(s => s.Number);

            Assert.True(coordinator.WaitForExit(Run) == 0, $"the coordinator failed");
            Assert.Equal(c.Reference(60), TrainEvents.ParamsSha256(coordinator));
            // the kill came mid-run, and the run went on without the dead worker (its shards went to the others
            // through backup tasks, the step deadline or reachability, whichever came first)
            Assert.InRange(stepAtKill, 20, 59);
            Assert.Contains(coordinator.Lines.Skip(killedAt), l => TrainEvents.StepOf(l.Text) is { Number: > 20 });
            Assert.DoesNotContain(coordinator.Lines, l => l.Text.Contains("Discarding oversized payload"));
            foreach (var w in new[] { workers[0], workers[2] })
                Assert.True(w.WaitForExit(TimeSpan.FromSeconds(30)) == 0, $"a surviving worker did not end cleanly\n{w.Tail()}");
        });
    }

    [Fact]
    public void Workers_leaving_and_joining_mid_run_change_no_bit()
    {
        using var c = new ProcessCluster();
        c.Explain(() =>
        {
            // long enough that a worker can start, join and take part, and another leave, before the end
            var coordinator = c.Coordinator(400, minWorkers: 2);
            var first = c.Worker(slowdown: 3);
            var second = c.Worker(slowdown: 3);

            coordinator.WaitForLine(TrainEvents.StepAtLeast(15), Start, "step 15");
            int joining = coordinator.Lines.Count;
            var third = c.Worker(slowdown: 3);  // joins mid-run: gets work from a later step on
            coordinator.WaitForLine(l => TrainEvents.StepOf(l.Text) is { Workers: 3 }, Start, "a step done by 3 workers", joining);

            int leaving = coordinator.Lines.Count;
            first.Terminate();                   // SIGTERM: leaves gracefully, hands its work back at once
            coordinator.WaitForLine(l => TrainEvents.StepOf(l.Text) is { Workers: 2 }, Start, "a step done by the 2 remaining workers", leaving);
            Assert.True(first.WaitForExit(TimeSpan.FromSeconds(30)) == 0, "a worker stopped with SIGTERM did not exit 0");

            Assert.True(coordinator.WaitForExit(Run) == 0, $"the coordinator failed");
            Assert.Equal(c.Reference(400), TrainEvents.ParamsSha256(coordinator));
            foreach (var w in new[] { second, third })
                Assert.True(w.WaitForExit(TimeSpan.FromSeconds(30)) == 0, $"a worker did not end cleanly\n{w.Tail()}");
        });
    }
}
