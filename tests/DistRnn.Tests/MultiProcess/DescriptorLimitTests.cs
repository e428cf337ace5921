using System.Net;
using DistRnn.Tests.Cluster;

namespace DistRnn.Tests.MultiProcess;

/// <summary>
/// The coordinator under a low descriptor limit (`prlimit --nofile=256`, about 160 of them its own at rest) while
/// 400 idle connections flood its data channel's port for the whole run: the flood takes no descriptor the
/// coordinator needs, so a worker still joins, every checkpoint is written, the run ends with exit 0 and the
/// single-process bits, and the flood costs little memory.
/// </summary>
[Collection("MultiProcess")]
public sealed class DescriptorLimitTests
{
    [Fact]
    public async Task A_flood_on_the_data_channel_leaves_a_coordinator_with_few_descriptors_its_checkpoints_and_its_bits()
    {
        if (!OperatingSystem.IsLinux() || !File.Exists("/usr/bin/prlimit")) return; // the limit is set with util-linux's prlimit
        const int steps = 12;
        using var c = new ProcessCluster();
        string reference = c.Reference(steps);
        var args = new List<string> { "train" };
        args.AddRange(ProcessCluster.Model);
        // two local workers and one from outside, which joins once the flood is on: every step runs under it
        args.AddRange(["--steps", steps.ToString(), "--workers", "2", "--listen", c.Listen, "--min-workers", "3", "--wait-timeout", "120",
            "--out", c.RunDir, "--json", "--eval-every", "100000", "--checkpoint-every", "3"]);
        using var coordinator = NodeProcess.Start("coordinator (256 descriptors)", Executables.Coordinator, args, through: ["prlimit", "--nofile=256"]);
        NodeProcess? worker = null;
        try
        {
            var listening = coordinator.WaitForLine("data channel: listening on", TimeSpan.FromSeconds(60)).Text;
            int port = int.Parse(listening[(listening.LastIndexOf(':') + 1)..].TrimEnd('"', '}'));
            coordinator.WaitForLine("2 of 3 registered", TimeSpan.FromSeconds(60));
            long before = Memory(coordinator.Pid, "VmRSS");

            await using var flood = new IdleFlood(new IPEndPoint(IPAddress.Loopback, port), 400, reconnect: true);
            Assert.True(await flood.Until(f => f.Opened >= 400, TimeSpan.FromSeconds(60)), $"only {flood.Opened} of the flood's 400 connections opened");
            int from = coordinator.Lines.Count;
            worker = c.Worker();
            coordinator.WaitForLine(l => TrainEvents.Event(l.Text) == "checkpoint", TimeSpan.FromSeconds(120), "a checkpoint under the flood", from);
            long growth = Memory(coordinator.Pid, "VmHWM") - before;
            Assert.True(coordinator.WaitForExit(TimeSpan.FromSeconds(180)) == 0, "the coordinator failed");
            Assert.Equal(reference, TrainEvents.ParamsSha256(coordinator));
            Assert.True(flood.HungUp > 0, "the flood never met the cap");
            Assert.True(growth < 300L << 20, $"the coordinator's memory grew by {growth >> 20} MB under the flood");
            Assert.True(worker.WaitForExit(TimeSpan.FromSeconds(60)) == 0, "the outside worker did not exit 0");
        }
        catch (Exception e)
        {
            throw new Xunit.Sdk.XunitException($"{e.GetType().Name}: {e.Message}\n{coordinator.Tail(60)}\n{worker?.Tail(30)}");
        }
    }

    /// <summary>A figure of /proc/PID/status in bytes.</summary>
    private static long Memory(int pid, string field)
    {
        var line = File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith(field + ":", StringComparison.Ordinal));
        return long.Parse(line[(field.Length + 1)..].Trim().Split(' ')[0]) * 1024;
    }
}
