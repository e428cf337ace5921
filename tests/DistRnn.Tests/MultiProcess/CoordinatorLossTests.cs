namespace DistRnn.Tests.MultiProcess;

/// <summary>
/// The coordinator killed (SIGKILL) mid-run, its newest checkpoint damaged, and started again with --resume at
/// the same --listen address: it skips the damaged file with a warning, the workers, untouched, reconnect by
/// themselves, and the parameters equal an uninterrupted run.
/// </summary>
[Collection("MultiProcess")]
public sealed class CoordinatorLossTests
{
    [Fact]
    public void Coordinator_killed_at_step_35_of_80_resumes_and_changes_no_bit()
    {
        using var c = new ProcessCluster();
        c.Explain(() =>
        {
            var first = c.Coordinator(80, minWorkers: 2, extra: ["--checkpoint-every", "10"]);
            var workers = Enumerable.Range(0, 2).Select(_ => c.Worker(slowdown: 3)).ToList();

            first.WaitForLine(TrainEvents.StepAtLeast(35), TimeSpan.FromSeconds(90), "step 35");
            first.Kill();
            long reached = TrainEvents.Steps(first).Max(s => s.Number);
            Assert.True(reached < 80, $"the run was over before the coordinator was killed (step {reached})");

            // the kill may also have hit the disk: the newest checkpoint is truncated here on purpose
            var (newest, newestPath) = DistRnn.Coordinator.Checkpoints.CheckpointStore.List(c.RunDir).MaxBy(x => x.Step);
            Assert.True(newest >= 30, $"no checkpoint at step 30 or later in {c.RunDir}");
            using (var f = new FileStream(newestPath, FileMode.Open)) f.SetLength(f.Length / 2);

            var second = c.ResumedCoordinator(minWorkers: 2, "--checkpoint-every", "10");
            // it skips the damaged file, saying so, and continues from the one before (not from the start)
            second.WaitForLine(l => l.Error && l.Text.Contains(Path.GetFileName(newestPath)), TimeSpan.FromSeconds(60), "a warning naming the damaged checkpoint");
            var firstStep = second.WaitForLine(TrainEvents.StepAtLeast(1), TimeSpan.FromSeconds(120), "the first step after the restart");
            Assert.Equal(newest - 10 + 1, TrainEvents.StepOf(firstStep.Text)!.Number);

            Assert.True(second.WaitForExit(TimeSpan.FromSeconds(150)) == 0, $"the resumed coordinator failed");
            Assert.Equal(c.Reference(80), TrainEvents.ParamsSha256(second));
            foreach (var w in workers)
                Assert.True(w.WaitForExit(TimeSpan.FromSeconds(30)) == 0, $"a worker did not survive the restart and end cleanly\n{w.Tail()}");
        });
    }
}
