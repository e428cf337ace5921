namespace DistRnn.Tests.MultiProcess;

/// <summary>
/// A worker in its own network namespace, cut off for 10 s (its link set down, as a pulled cable) and healed:
/// the others take over its shards, nothing is lost, and it takes part again afterwards. The run is long and
/// stopped with Ctrl+C once the worker is back; the interrupted run's parameters at step N must equal a
/// failure-free run of N steps.
/// </summary>
[Collection("MultiProcess")]
public sealed class NetworkCutTests
{
    [NetnsFact]
    public void Worker_cut_off_for_10_s_loses_nothing_and_rejoins()
    {
        int id = Environment.ProcessId % 100000;
        using var ns = new NetworkNamespace($"w{id}", 10 + id % 240);
        using var c = new ProcessCluster(NetworkNamespace.HostAddress);
        c.Explain(() =>
        {
            var coordinator = c.Coordinator(100_000, minWorkers: 2, extra: ["--checkpoint-every", "100000"]);
            var onHost = c.Worker(slowdown: 3, bindHost: NetworkNamespace.HostAddress);
            var cutOff = c.Worker(slowdown: 3, netns: ns.Name, bindHost: ns.Address);

            coordinator.WaitForLine(l => TrainEvents.StepOf(l.Text) is { Number: >= 10, Workers: 2 }, TimeSpan.FromSeconds(90), "step 10 with both workers");
            ns.Cut();
            var cutClock = System.Diagnostics.Stopwatch.StartNew();
            int cut = coordinator.Lines.Count;
            // the coordinator notices (reachability or the step deadline) and carries on with the worker it has
            coordinator.WaitForLine(l => TrainEvents.StepOf(l.Text) is { Workers: 1 }, TimeSpan.FromSeconds(30), "a step done without the cut-off worker", cut);
            var rest = TimeSpan.FromSeconds(10) - cutClock.Elapsed;
            if (rest > TimeSpan.Zero) Thread.Sleep(rest);
            ns.Heal();
            int healed = coordinator.Lines.Count;
            // it comes back (reachable again, or re-registered with a fresh actor system) and computes again
            coordinator.WaitForLine(l => TrainEvents.StepOf(l.Text) is { Workers: 2 }, TimeSpan.FromSeconds(60), "a step done by both workers after the heal", healed);
            var back = coordinator.Lines.Count;
            coordinator.WaitForLine(l => TrainEvents.StepOf(l.Text) is { Workers: 2 }, TimeSpan.FromSeconds(30), "another step by both", back);

            coordinator.Interrupt();
            Assert.True(coordinator.WaitForExit(TimeSpan.FromSeconds(60)) == 1, $"an interrupted run exits 1");
            var (step, sha) = TrainEvents.Interrupted(coordinator);
            Assert.Equal(c.Reference(step), sha);
            Assert.False(onHost.HasExited || cutOff.HasExited, $"a worker ended during the run");
        });
    }
}
