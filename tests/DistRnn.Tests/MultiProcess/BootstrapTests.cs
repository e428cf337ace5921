using System.Net;

namespace DistRnn.Tests.MultiProcess;

/// <summary>
/// Issue 17's cluster bootstrap, as Akka.NET deployments do it: a coordinator and two workers given only each other's
/// management endpoints (<c>--discovery config --contact-points</c>, no <c>--join</c>, no seed) form one cluster through
/// Akka.Management's Cluster Bootstrap; /alive and /ready answer while the run is going; the run trains to the bits of
/// <c>--workers 0</c>. The run is held (<c>--min-workers 3</c>) while the probes are made, so nothing depends on how fast
/// it goes; a third worker then joins the formed cluster with a plain <c>--join</c> and the run completes.
/// </summary>
[Collection("MultiProcess")]
public sealed class BootstrapTests
{
    private const int Steps = 60;

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

        var coordinator = c.Coordinator(Steps, minWorkers: 3, waitTimeout: 180, "--discovery", "config", "--contact-points", contacts, "--management", management[0]);
        var workers = management.Skip(1).Select((m, i) => c.Program($"worker {i + 1}", Executables.Worker,
            "--discovery", "config", "--contact-points", contacts, "--management", m, "--threads", "1", "--give-up-after", "120")).ToList();

        // the cluster forms and both workers register (a worker is ready once registered); the run waits for a third:
        // every node alive and ready meanwhile
        bool allReady = false, allAlive = false;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (!(allReady && allAlive) && clock.Elapsed < TimeSpan.FromSeconds(150) && !coordinator.HasExited)
        {
            allReady = (await Task.WhenAll(management.Select(m => Probe(m, "/ready")))).All(s => s == HttpStatusCode.OK);
            allAlive = (await Task.WhenAll(management.Select(m => Probe(m, "/alive")))).All(s => s == HttpStatusCode.OK);
            if (!(allReady && allAlive)) await Task.Delay(200);
        }
        var third = c.Worker(); // --join the coordinator: the cluster the three formed

        c.Explain(() =>
        {
            Assert.True(allAlive, "/alive did not answer 200 on every node");
            Assert.True(allReady, "/ready did not answer 200 on every node while the run waited for its third worker");
            Assert.True(coordinator.WaitForExit(TimeSpan.FromSeconds(180)) == 0, "the coordinator failed");
            Assert.Equal(c.Reference(Steps), TrainEvents.ParamsSha256(coordinator));
            Assert.Equal(Enumerable.Range(1, Steps).Select(i => (long)i), TrainEvents.Steps(coordinator).Select(s => s.Number));
        });
    }
}
