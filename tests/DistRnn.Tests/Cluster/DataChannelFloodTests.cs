using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using DistRnn.Configuration;
using DistRnn.Coordinator.Channel;
using DistRnn.Coordinator.Node;
using DistRnn.Coordinator.Training;
using DistRnn.Model;
using DistRnn.Security;
using DistRnn.Transport.DataChannel;
using DistRnn.Worker.Channel;

namespace DistRnn.Tests.Cluster;

/// <summary>
/// The data channel's listener against strangers: a flood of idle connections gets a bounded number of
/// handshakes (the rest are closed at once) and an honest worker gets through once it ends; a training run
/// under a sustained flood ends with the undisturbed bits, checkpoints and all; a host name listens where it
/// resolves to, not on every interface.
/// </summary>
public sealed class DataChannelFloodTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task A_flood_from_one_address_gets_a_bounded_number_of_handshakes_and_a_worker_gets_through_once_it_ends()
    {
        // a handshake timeout longer than the flood takes: every handshake it gets stays pending while it lasts
        var limits = new DataChannelLimits(1000, HandshakeTimeout: TimeSpan.FromMinutes(2));
        var log = new ConcurrentQueue<string>();
        using var server = new DataChannelServer<string>([IPAddress.Loopback], limits, NodeSecurity.None, (_, _) => { }, (_, _) => { }, log.Enqueue);

        const int connections = 300;
        await using (var flood = new IdleFlood(new IPEndPoint(IPAddress.Loopback, server.Port), connections, reconnect: false))
        {
            Assert.True(await flood.Until(f => f.Greeted + f.HungUp == connections, Bound), $"the server answered {flood.Greeted + flood.HungUp} of {connections} connections");
            Assert.InRange(flood.Greeted, 1, AdmissionLimits.Default.MaxPendingPerSource);
        }
        // one line for the refusals, not one each
        Assert.InRange(log.Count(l => l.Contains("data channel: refused")), 1, 3);

        // the flood gone, its pending handshakes end and free their places: a worker with its ticket gets through
        // (tried until it does, bounded: the server sees the flood's connections close in its own time)
        const string address = "akka.tcp://distrnn@127.0.0.1:5555";
        DataConnection? connection = null;
        for (var waited = System.Diagnostics.Stopwatch.StartNew(); connection is null && waited.Elapsed < Bound;)
        {
            try
            {
                connection = await DataChannelClient.ConnectAsync("127.0.0.1", server.Port, server.Issue("w1", address), address, limits,
                    NodeSecurity.None, _ => { }, _ => { });
            }
            catch (Exception e) when (e is IOException or SocketException or DistRnn.Protocol.ProtocolException) { await Task.Delay(100); }
        }
        Assert.NotNull(connection);
        // the server counts a connection once its own side of the handshake is done, which the client may see
        // finish first: wait (bounded) for the count, then check it is exactly the one worker
        for (var waited = System.Diagnostics.Stopwatch.StartNew(); server.Accepted < 1 && waited.Elapsed < Bound;) await Task.Delay(20);
        connection.Dispose();
        Assert.Equal(1, server.Accepted);
    }

    [Fact]
    public async Task A_host_name_listens_on_the_addresses_it_resolves_to_not_on_every_interface()
    {
        var config = new TrainConfig { Hidden = 8, Seq = 8, Batch = 4, Shards = 4, Steps = 1, Seed = 1, Precision = "float32" };
        var corpus = TestUtil.CorpusOf(TestUtil.SmallText());
        await using var node = CoordinatorNode<float>.Start(CoordinatorSettings.For(config, corpus), "localhost", 0, verbose: false);
        int port = node.Channel!.Port;

        using (var client = new TcpClient()) await client.ConnectAsync("localhost", port); // where it resolves to: listening
        // 127.0.0.2 is this machine's loopback too, but not an address "localhost" resolves to: a listener on
        // 0.0.0.0 would take the connection there as on any interface
        using var other = new TcpClient();
        var refused = await Assert.ThrowsAsync<SocketException>(() => other.ConnectAsync(IPAddress.Parse("127.0.0.2"), port));
        Assert.Equal(SocketError.ConnectionRefused, refused.SocketErrorCode);
        Assert.All(node.Channel.Endpoints, e => Assert.True(IPAddress.IsLoopback(e.Address), $"{e} is not where localhost resolves to"));
    }

    private sealed class Checkpoints : ITrainingObserver
    {
        public readonly ConcurrentQueue<string> Paths = new();
        public void OnStep(StepReport report) { }
        public void OnCheckpoint(string path, long step, bool isBest) => Paths.Enqueue(path);
        public void OnWarning(string message) { }
    }

    [Fact]
    public async Task A_run_under_a_sustained_flood_ends_with_the_undisturbed_bits_and_writes_its_checkpoints()
    {
        var config = new TrainConfig { Hidden = 16, Seq = 12, Batch = 8, Shards = 8, Steps = 12, Seed = 9, Precision = "float32" };
        var corpus = TestUtil.CorpusOf(TestUtil.SmallText());
        var errors = new ConcurrentQueue<string>();
        string expected = await ClusterTraining.TrainAsync<float>(config, corpus, 0, errors);

        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        await using var host = ClusterHost<float>.Start(CoordinatorSettings.For(config, corpus), corpus,
            new ClusterHostOptions { LocalWorkers = 2, ThreadsPerWorker = 1, OnSystem = s => ErrorRecorder.Attach(s, errors) });
        await host.WaitForWorkersAsync(2, TimeSpan.FromSeconds(60), _ => { }, timeout.Token);
        var channel = host.Coordinator.Channel!;
        for (var w = System.Diagnostics.Stopwatch.StartNew(); channel.Accepted < 2 && w.Elapsed < Bound;) await Task.Delay(20, timeout.Token);
        Assert.Equal(2, channel.Accepted);

        // the flood is at its cap before step 1 and lasts the whole run: every checkpoint is written under it
        await using var flood = new IdleFlood(new IPEndPoint(IPAddress.Loopback, channel.Port), 200, reconnect: true);
        Assert.True(await flood.Until(f => f.HungUp > 0, Bound), $"the flood never met the cap ({flood.Opened} opened, {flood.Greeted} greeted)");

        var observer = new Checkpoints();
        var options = new TrainOptions { OutDir = TestUtil.TempDir(), CheckpointEvery = 4, ValWindows = 4, Parallelism = 2 };
        var result = await new Trainer<float>(new TrainingSession<float>(config, corpus), host.Source, Kernels.Default<float>(), options, observer).RunAsync(timeout.Token);

        Assert.Equal(expected, result.ParamsSha256);
        Assert.NotEmpty(observer.Paths);
        Assert.All(observer.Paths, p => Assert.True(File.Exists(p), $"{p} was reported but is not there"));
        Assert.True(channel.Received > 0, "the workers' own data channels should have carried results through the flood");
        Assert.Empty(errors);
        await host.EndRunAsync(true, "test finished");
    }
}
