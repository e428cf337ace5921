namespace DistRnn.Tests.MultiProcess;

/// <summary>
/// Issue 12 E's check, as an outcome: a worker process SIGKILLed mid-run, while its tensors go over the data
/// channel, changes no bit and does not interrupt the run — every step is done once, in order, and the run ends
/// by itself. What the kill costs in time is measured by bench/worker_kill.sh (docs/benchmarks.md), never here.
/// </summary>
[Collection("MultiProcess")]
public sealed class WorkerKillTests
{
    private const int Steps = 80;

    [Fact]
    public void A_worker_SIGKILLed_mid_run_changes_no_bit_and_interrupts_nothing() => KillOneOfThree(new ProcessCluster());

    /// <summary>--state carry: the dead worker's shards are recomputed elsewhere from the same initial states, so no bit changes.</summary>
    [Fact]
    public void With_carried_states_a_worker_SIGKILLed_mid_run_changes_no_bit() =>
        KillOneOfThree(new ProcessCluster(model: [.. ProcessCluster.Model, "--state", "carry"]));

    private static void KillOneOfThree(ProcessCluster cluster)
    {
        using var c = cluster;
        c.Explain(() =>
        {
            var coordinator = c.Coordinator(Steps, minWorkers: 3);
            var workers = Enumerable.Range(0, 3).Select(_ => c.Worker(slowdown: 2)).ToList();

            coordinator.WaitForLine(TrainEvents.StepAtLeast(20), TimeSpan.FromSeconds(90), "step 20");
            workers[0].Kill();
            long stepAtKill = TrainEvents.Steps(coordinator).Max(s => s.Number);

            Assert.True(coordinator.WaitForExit(TimeSpan.FromSeconds(150)) == 0, "the coordinator failed");
            Assert.Equal(c.Reference(Steps), TrainEvents.ParamsSha256(coordinator));
            Assert.InRange(stepAtKill, 20, Steps - 1); // mid-run
            Assert.Equal(Enumerable.Range(1, Steps).Select(i => (long)i), TrainEvents.Steps(coordinator).Select(s => s.Number));
            Assert.DoesNotContain(coordinator.StdoutLines, l => TrainEvents.Event(l) == "interrupted");
            foreach (var w in workers.Skip(1))
                Assert.True(w.WaitForExit(TimeSpan.FromSeconds(30)) == 0, $"a surviving worker did not end cleanly\n{w.Tail()}");
        });
    }

    /// <summary>
    /// The same on the tree data plane, with a model of two float64 chunks: the workers sum among themselves, so the kill
    /// lands during a relay (the dead worker held pieces, received sums or forwarded the parameters); the coordinator
    /// re-plans the step among the survivors, who keep what they computed, and no bit changes. With --state carry the
    /// final states travel up the relay with the sums, and a re-planned piece starts from the plan's initial states.
    /// </summary>
    [Theory]
    [InlineData("reset")]
    [InlineData("carry")]
    public void A_worker_SIGKILLed_mid_reduction_on_the_tree_changes_no_bit(string state)
    {
        const int steps = 60;
        string[] model = ["--hidden", "128", "--seq", "24", "--batch", "32", "--shards", "16", "--seed", "11", "--optimizer", "adam", "--lr", "0.01", "--precision", "float64", "--state", state];
        using var c = new ProcessCluster(model: model);
        c.Explain(() =>
        {
            var coordinator = c.Coordinator(steps, 3, 90, "--data-plane", "tree");
            var workers = Enumerable.Range(0, 3).Select(_ => c.Worker(slowdown: 2)).ToList();

            coordinator.WaitForLine(TrainEvents.StepAtLeast(15), TimeSpan.FromSeconds(90), "step 15");
            workers[1].Kill();
            long stepAtKill = TrainEvents.Steps(coordinator).Max(s => s.Number);

            Assert.True(coordinator.WaitForExit(TimeSpan.FromSeconds(150)) == 0, "the coordinator failed");
            Assert.Equal(c.Reference(steps), TrainEvents.ParamsSha256(coordinator));
            Assert.InRange(stepAtKill, 15, steps - 1);
            Assert.Equal(Enumerable.Range(1, steps).Select(i => (long)i), TrainEvents.Steps(coordinator).Select(s => s.Number));
            foreach (var w in workers.Where((_, i) => i != 1))
                Assert.True(w.WaitForExit(TimeSpan.FromSeconds(30)) == 0, $"a surviving worker did not end cleanly\n{w.Tail()}");
        });
    }
}
