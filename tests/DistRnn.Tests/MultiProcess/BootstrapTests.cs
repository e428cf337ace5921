using System.Net;

namespace DistRnn.Tests.MultiProcess;

/// <summary>
/// Issue 17's cluster bootstrap, as Akka.NET deployments do it: a coordinator and two workers given only each other's
/// management endpoints (<c>--discovery config --contact-points</c>, no <c>--join</c>, no seed) form one cluster through
/// Akka.Management's Cluster Bootstrap and train to the bits of <c>--workers 0</c>; /alive and /ready answer while the
/// run is going.
/// </summary>
[Collection("MultiProcess")]
public sealed class BootstrapTests
{
    private const int Steps = 150;

    [Fact]
    public async Task Three_processes_form_one_cluster_through_config_discovery_and_train_to_the_reference_bits()
    {
        using var c = new ProcessCluster();
        var management = Enumerable.Range(0, 3).Select(_ => $"127.0.0.1:{ProcessCluster.FreePort()}").ToArray();
        string contacts = string.Join(",", management);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        async Task<HttpStatusCode?> Probe(string endpoint, string path)
        {
            try { return (await http.GetAsync($"http://{endpoint}{path}")).StatusCode; }
            catch (HttpRequestException) { return null; }
            catch (TaskCanceledException) { return null; }
        }

        var coordinator = c.Coordinator(Steps, minWorkers: 2, waitTimeout: 120, "--discovery", "config", "--contact-points", contacts, "--management", management[0]);
        var workers = management.Skip(1).Select((m, i) => c.Program($"worker {i + 1}", Executables.Worker,
            "--discovery", "config", "--contact-points", contacts, "--management", m, "--threads", "1", "--give-up-after", "120", "--slowdown", "3")).ToList();

        // while the run goes: every node alive, the coordinator and a worker ready (bounded; the run lasts longer than this takes)
        bool coordinatorReady = false, workerReady = false, allAlive = false;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (!(coordinatorReady && workerReady && allAlive) && clock.Elapsed < TimeSpan.FromSeconds(120) && !coordinator.HasExited)
        {
            coordinatorReady |= await Probe(management[0], "/ready") == HttpStatusCode.OK;
            workerReady |= await Probe(management[1], "/ready") == HttpStatusCode.OK;
            allAlive |= (await Task.WhenAll(management.Select(m => Probe(m, "/alive")))).All(s => s == HttpStatusCode.OK);
            await Task.Delay(100);
        }
        var stepsSeenWhileReady = TrainEvents.Steps(coordinator).Count();

        c.Explain(() =>
        {
            Assert.True(allAlive, "/alive did not answer 200 on every node");
            Assert.True(coordinatorReady, "the coordinator's /ready never answered 200");
            Assert.True(workerReady, "a worker's /ready never answered 200");
            Assert.True(stepsSeenWhileReady < Steps, "the probes answered only after the run (they must answer while it goes)");
            Assert.True(coordinator.WaitForExit(TimeSpan.FromSeconds(180)) == 0, "the coordinator failed");
            Assert.Equal(c.Reference(Steps), TrainEvents.ParamsSha256(coordinator));
            foreach (var w in workers) Assert.True(w.WaitForExit(TimeSpan.FromSeconds(30)) == 0, $"a worker did not end cleanly\n{w.Tail()}");
        });
    }
}
