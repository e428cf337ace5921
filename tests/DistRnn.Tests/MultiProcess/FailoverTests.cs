using DistRnn.Tests.Security;
using Xunit.Abstractions;

namespace DistRnn.Tests.MultiProcess;

/// <summary>
/// Issue 13's check of failover (docs/failover.md), as outcomes: an active coordinator, its standby and two workers as
/// processes; the active is SIGKILLed mid-run and nobody does anything. The standby's done event has the uninterrupted
/// run's params_sha256, and its output has every step once, in order — so no completed step was redone (the standby
/// reports the steps it followed and the ones it coordinated in one sequence). The time from the kill to the standby's
/// next step is written to the test's output, never asserted.
/// </summary>
[Collection("MultiProcess")]
public sealed class FailoverTests(ITestOutputHelper output)
{
    private const int Steps = 150;

    [Fact]
    public void The_standby_finishes_a_run_whose_active_coordinator_was_SIGKILLed_with_the_same_bits()
    {
        Run(killAWorkerToo: false);
    }

    [Fact]
    public void The_active_coordinator_and_a_worker_SIGKILLed_together_are_survived_with_the_same_bits()
    {
        Run(killAWorkerToo: true);
    }

    /// <summary>--state carry: the standby applies the active's decisions with their final states, and carries on from them.</summary>
    [Fact]
    public void With_carried_states_the_standby_finishes_a_run_whose_active_coordinator_was_SIGKILLed_with_the_same_bits()
    {
        Run(killAWorkerToo: false, model: [.. ProcessCluster.Model, "--state", "carry"]);
    }

    /// <summary>
    /// Mutual TLS on every node (each its own certificate of the run's CA; the standby's has the coordinator role): the
    /// standby attaches over TLS, takes over, and the workers re-register with it (their check of a coordinator-role
    /// certificate runs again), to the same bits.
    /// </summary>
    [Fact]
    public void With_mutual_TLS_the_standby_finishes_a_run_whose_active_coordinator_was_SIGKILLed_with_the_same_bits()
    {
        Run(killAWorkerToo: false, tls: true);
    }

    /// <summary>
    /// Two standbys, each listing the active and the other (--standby A,C and A,B): the active is SIGKILLed, the older
    /// standby takes the run over, and the second resumes with it — it goes on following the run step by step (under the
    /// old rule it stood still at the last step the lost active sent). Then the new active is SIGKILLed too, and the
    /// second standby finishes the run: the uninterrupted run's bits, every step once, its folder the whole run.
    /// </summary>
    [Fact]
    public void A_second_standby_resumes_with_the_one_that_took_over_and_finishes_the_run_when_that_one_is_lost_too()
    {
        const int steps = 300;
        using var c = new ProcessCluster();
        c.Explain(() =>
        {
            var active = c.Coordinator(steps, minWorkers: 2);
            var first = c.StandbyAt(1, [c.Listen, c.StandbyListenAt(2)], steps);
            active.WaitForLine($"{c.StandbyListenAt(1)} attached", TimeSpan.FromSeconds(120));
            // the second starts once the first is attached, so the first is the older: the run goes to it first
            var second = c.StandbyAt(2, [c.Listen, c.StandbyListenAt(1)], steps);
            active.WaitForLine($"{c.StandbyListenAt(2)} attached", TimeSpan.FromSeconds(120));
            var join = string.Join(",", c.Listen, c.StandbyListenAt(1), c.StandbyListenAt(2));
            var workers = new[] { c.Worker(slowdown: 2, join: join), c.Worker(slowdown: 2, join: join) };

            second.WaitForLine(TrainEvents.StepAtLeast(20), TimeSpan.FromSeconds(120), "the second standby at step 20");
            active.Kill();
            long atFirstKill = TrainEvents.Steps(second).Max(s => s.Number);
            first.WaitForLine("this node holds the run now", TimeSpan.FromSeconds(120));
            second.WaitForLine($"following the coordinator at {c.StandbyListenAt(1)}", TimeSpan.FromSeconds(120));
            // the second follows the new active's steps: it did not stand still at the step the lost one sent last
            second.WaitForLine(TrainEvents.StepAtLeast(atFirstKill + 20), TimeSpan.FromSeconds(120), $"the second standby at step {atFirstKill + 20}");
            first.Kill();
            long atSecondKill = TrainEvents.Steps(second).Max(s => s.Number);

            Assert.True(second.WaitForExit(TimeSpan.FromSeconds(180)) == 0, "the second standby failed");
            Assert.InRange(atSecondKill, atFirstKill + 20, steps - 1); // the second kill was mid-run too
            Assert.Equal(c.Reference(steps), TrainEvents.ParamsSha256(second));
            Assert.Equal(Enumerable.Range(1, steps).Select(i => (long)i), TrainEvents.Steps(second).Select(s => s.Number));
            Assert.Contains(second.StdoutLines, l => l.Contains("this node holds the run now"));
            var logged = File.ReadLines(Path.Combine(c.StandbyDirAt(2), "metrics.jsonl"))
                .Select(l => System.Text.Json.JsonDocument.Parse(l).RootElement.GetProperty("step").GetInt64()).ToList();
            Assert.Equal(Enumerable.Range(1, steps / 10).Select(i => i * 10L), logged);
            output.WriteLine($"the second standby: at step {atFirstKill} when the active was killed, {atSecondKill} when the first standby was");
        });
    }

    private void Run(bool killAWorkerToo, string[]? model = null, bool tls = false)
    {
        using var c = new ProcessCluster(model: model);
        c.Explain(() =>
        {
            var certs = tls ? new TestCertificates(c.Dir, "Failover CA") : null;
            string[] Tls(string node) => certs is null ? [] : ["--tls-cert", certs.Node(node, password: null), "--tls-ca", certs.CaPath];
            var active = c.Coordinator(Steps, minWorkers: 2, extra: Tls("coordinator-active"));
            var standby = c.Standby(Steps, extra: Tls("coordinator-standby"));
            // the workers start only once the standby is attached: the active cannot step before it, so the standby
            // gets the state of step 0 and follows every step (started together, under load the workers could win)
            active.WaitForLine("attached; it gets the run's state", TimeSpan.FromSeconds(120));
            var workers = new[] { c.WorkerOfBoth(slowdown: 2, extra: Tls("worker-1")), c.WorkerOfBoth(slowdown: 2, extra: Tls("worker-2")) };

            // the standby follows the run step by step before anything happens to the active
            standby.WaitForLine(TrainEvents.StepAtLeast(20), TimeSpan.FromSeconds(120), "the standby at step 20");
            active.Kill();
            if (killAWorkerToo) workers[0].Kill();
            var killedAt = standby.Elapsed;
            long followed = TrainEvents.Steps(standby).Max(s => s.Number);

            Assert.True(standby.WaitForExit(TimeSpan.FromSeconds(180)) == 0, "the standby failed");
            Assert.InRange(followed, 20, Steps - 1); // mid-run
            Assert.Equal(c.Reference(Steps), TrainEvents.ParamsSha256(standby));
            Assert.Equal(Enumerable.Range(1, Steps).Select(i => (long)i), TrainEvents.Steps(standby).Select(s => s.Number));
            Assert.Contains(standby.StdoutLines, l => l.Contains("this node holds the run now"));
            // (not asserted: that the surviving workers exit — one that had not re-registered when the run ended, which
            // can happen when few steps are left, does not hear that it ended: docs/failover.md, Limits)
            // the standby's folder holds the whole run: its metrics (one record every --log-every steps) from the start, once each, and the final checkpoint
            var logged = File.ReadLines(Path.Combine(c.StandbyDir, "metrics.jsonl"))
                .Select(l => System.Text.Json.JsonDocument.Parse(l).RootElement.GetProperty("step").GetInt64()).ToList();
            Assert.Equal(Enumerable.Range(1, Steps / 10).Select(i => i * 10L), logged);
            Assert.True(File.Exists(Path.Combine(c.StandbyDir, $"ckpt-{Steps:D8}.bin")));

            var lines = standby.Lines.Where(l => !l.Error).ToList();
            int took = lines.FindIndex(l => l.Text.Contains("this node holds the run now"));
            var next = lines.Skip(took).First(l => TrainEvents.StepOf(l.Text) is not null);
            output.WriteLine($"kill → the standby holds the run: {(lines[took].At - killedAt).TotalSeconds:F1} s; → its first step ({TrainEvents.StepOf(next.Text)!.Number}): {(next.At - killedAt).TotalSeconds:F1} s");
        });
    }
}
