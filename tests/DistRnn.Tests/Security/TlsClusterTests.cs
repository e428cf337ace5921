using System.Diagnostics;
using Akka.Actor;
using Akka.Cluster;
using Akka.Configuration;
using DistRnn.Security;
using Xunit.Abstractions;

namespace DistRnn.Tests.Security;

/// <summary>
/// Real actor systems on 127.0.0.1 forming (or failing to form) one Akka cluster over the DotNetty transport
/// with mutual TLS: two nodes of the run's CA join and exchange messages; a node with a certificate from another
/// CA, and a plain-TCP node, never become members.
/// </summary>
public class TlsClusterTests(ITestOutputHelper output)
{
    private const string SystemName = "distrnn";

    private static Config NodeConfig() => ConfigurationFactory.ParseString("""
        akka {
          loglevel = WARNING
          stdout-loglevel = WARNING
          log-dead-letters = off
          actor.provider = cluster
          remote.dot-netty.tcp { hostname = "127.0.0.1", port = 0 }
          remote.log-remote-lifecycle-events = off
          cluster {
            log-info = off
            retry-unsuccessful-join-after = 1s
            seed-node-timeout = 2s
            shutdown-after-unsuccessful-join-seed-nodes = off
          }
          coordinated-shutdown { run-by-clr-shutdown-hook = off, exit-clr = off }
        }
        """);

    private sealed class Echo : ReceiveActor
    {
        public Echo() => Receive<string>(s => Sender.Tell("echo:" + s));
    }

    private static Address Bound(ActorSystem s) => ((ExtendedActorSystem)s).Provider.DefaultAddress;

    private static async Task<bool> Eventually(Func<bool> condition, TimeSpan within)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < within)
        {
            if (condition()) return true;
            await Task.Delay(100);
        }
        return condition();
    }

    private static int UpMembers(ActorSystem s) => Akka.Cluster.Cluster.Get(s).State.Members.Count(m => m.Status == MemberStatus.Up);

    private static async Task Stop(params ActorSystem?[] systems)
    {
        foreach (var s in systems)
            if (s is not null) await s.Terminate().WaitAsync(TimeSpan.FromSeconds(20));
    }

    private (ActorSystem System, Address Address) Seed(TlsCredentials tls)
    {
        var seed = TlsCredentials.CreateSystem(SystemName, NodeConfig(), tls);
        var address = Bound(seed);
        Assert.Equal(TlsCredentials.Scheme, address.Protocol);
        Akka.Cluster.Cluster.Get(seed).Join(address);
        seed.ActorOf(Props.Create(() => new Echo()), "echo");
        output.WriteLine($"seed at {address}");
        return (seed, address);
    }

    [Fact]
    public async Task Two_nodes_of_the_run_CA_join_over_mutual_TLS_and_exchange_messages()
    {
        var certs = new TestCertificates(TestUtil.TempDir());
        using var tlsA = TlsCredentials.FromOptions(certs.Node("coordinator"), certs.CaPath, TestCertificates.Password)!;
        using var tlsB = TlsCredentials.FromOptions(certs.Node("worker-1"), certs.CaPath, TestCertificates.Password)!;
        ActorSystem? a = null, b = null;
        try
        {
            (a, var seedAddress) = Seed(tlsA);
            b = TlsCredentials.CreateSystem(SystemName, NodeConfig(), tlsB);
            Akka.Cluster.Cluster.Get(b).Join(seedAddress);
            Assert.True(await Eventually(() => UpMembers(a) == 2 && UpMembers(b) == 2, TimeSpan.FromSeconds(30)), "the TLS node did not join");

            var echo = await b.ActorSelection(new RootActorPath(seedAddress) / "user" / "echo").ResolveOne(TimeSpan.FromSeconds(10));
            Assert.Equal("echo:hello over TLS", await echo.Ask<string>("hello over TLS", TimeSpan.FromSeconds(10)));
            Assert.Equal(0, tlsA.Rejections);
            Assert.Equal(0, tlsB.Rejections);
        }
        finally { await Stop(b, a); }
    }

    [Fact]
    public async Task A_node_with_a_certificate_from_another_CA_cannot_join()
    {
        var dir = TestUtil.TempDir();
        var ours = new TestCertificates(dir, "Our CA");
        var theirs = new TestCertificates(dir, "Their CA");
        using var tlsA = TlsCredentials.FromOptions(ours.Node("coordinator"), ours.CaPath, TestCertificates.Password)!;
        // the intruder trusts our CA (it knows it: a CA certificate is public) but holds no certificate of ours
        using var intruderOwn = TlsCredentials.FromOptions(theirs.Node("intruder"), theirs.CaPath, TestCertificates.Password)!;
        var bundle = Path.Combine(dir, "both.pem");
        File.WriteAllText(bundle, File.ReadAllText(ours.CaPath) + File.ReadAllText(theirs.CaPath));
        using var intruder = TlsCredentials.FromOptions(theirs.Node("intruder-2"), bundle, TestCertificates.Password)!;
        ActorSystem? a = null, x = null;
        try
        {
            (a, var seedAddress) = Seed(tlsA);
            x = TlsCredentials.CreateSystem(SystemName, NodeConfig(), intruder);
            Akka.Cluster.Cluster.Get(x).Join(seedAddress);
            Assert.True(await Eventually(() => tlsA.Rejections > 0, TimeSpan.FromSeconds(20)), "the seed never saw (and refused) the intruder's handshake");
            output.WriteLine(tlsA.LastRejection);
            Assert.Contains("does not chain to the run's CA", tlsA.LastRejection);
            // give it time to retry: it never becomes a member, and no message reaches the seed's actors
            await Task.Delay(TimeSpan.FromSeconds(4));
            Assert.Single(Akka.Cluster.Cluster.Get(a).State.Members);
            Assert.DoesNotContain(Akka.Cluster.Cluster.Get(x).State.Members, m => m.Status == MemberStatus.Up);
            var probe = x.ActorSelection(new RootActorPath(seedAddress) / "user" / "echo").Ask<string>("let me in", TimeSpan.FromSeconds(3));
            await Assert.ThrowsAnyAsync<Exception>(() => probe);
        }
        finally { await Stop(x, a); }
    }

    [Fact]
    public async Task A_plain_TCP_node_cannot_join_a_TLS_cluster()
    {
        var certs = new TestCertificates(TestUtil.TempDir());
        using var tlsA = TlsCredentials.FromOptions(certs.Node("coordinator"), certs.CaPath, TestCertificates.Password)!;
        ActorSystem? a = null, p = null;
        try
        {
            (a, var seedAddress) = Seed(tlsA);
            p = TlsCredentials.CreateSystem(SystemName, NodeConfig(), null);
            Assert.Equal(TlsCredentials.PlainScheme, Bound(p).Protocol);
            // plain TCP speaks "akka.tcp" to the TLS port (it has no transport for akka.ssl.tcp at all)
            var plainTarget = new Address(TlsCredentials.PlainScheme, SystemName, seedAddress.Host, seedAddress.Port);
            Akka.Cluster.Cluster.Get(p).Join(plainTarget);
            var probe = p.ActorSelection(new RootActorPath(plainTarget) / "user" / "echo").Ask<string>("let me in", TimeSpan.FromSeconds(3));
            await Assert.ThrowsAnyAsync<Exception>(() => probe);
            await Task.Delay(TimeSpan.FromSeconds(4));
            Assert.Single(Akka.Cluster.Cluster.Get(a).State.Members);
            Assert.DoesNotContain(Akka.Cluster.Cluster.Get(p).State.Members, m => m.Status == MemberStatus.Up);
        }
        finally { await Stop(p, a); }
    }

    [Fact]
    public async Task A_TLS_node_that_presents_no_client_certificate_cannot_join()
    {
        // require-mutual-authentication: a client that only checks the server (ordinary one-way TLS) is refused
        var certs = new TestCertificates(TestUtil.TempDir());
        using var tlsA = TlsCredentials.FromOptions(certs.Node("coordinator"), certs.CaPath, TestCertificates.Password)!;
        using var clientOnly = TlsCredentials.FromOptions(certs.Node("one-way"), certs.CaPath, TestCertificates.Password)!;
        ActorSystem? a = null, x = null;
        try
        {
            (a, var seedAddress) = Seed(tlsA);
            var oneWay = new Akka.Remote.Transport.DotNetty.DotNettySslSetup(clientOnly.Certificate, suppressValidation: true,
                requireMutualAuthentication: false);
            var setup = BootstrapSetup.Create().WithConfig(ConfigurationFactory.ParseString("""
                akka.remote.dot-netty.tcp { enable-ssl = true, ssl { suppress-validation = true, require-mutual-authentication = false } }
                """).WithFallback(NodeConfig())).And(oneWay);
            x = ActorSystem.Create(SystemName, setup);
            Akka.Cluster.Cluster.Get(x).Join(seedAddress);
            // Akka refuses the handshake itself ("Mutual TLS required but client did not provide a certificate"),
            // before our validator is asked; what matters here is that the node never gets in
            var probe = x.ActorSelection(new RootActorPath(seedAddress) / "user" / "echo").Ask<string>("let me in", TimeSpan.FromSeconds(5));
            await Assert.ThrowsAnyAsync<Exception>(() => probe);
            await Task.Delay(TimeSpan.FromSeconds(3));
            Assert.Single(Akka.Cluster.Cluster.Get(a).State.Members);
            Assert.DoesNotContain(Akka.Cluster.Cluster.Get(x).State.Members, m => m.Status == MemberStatus.Up);
        }
        finally { await Stop(x, a); }
    }
}
