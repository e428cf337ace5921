using Akka.Actor;
using DistRnn.Coordinator.Membership;

namespace DistRnn.Tests.Cluster;

/// <summary>
/// Issue 12 B, bans: an excluded worker restarted on another port of its machine is the same identity. On 6517c81 the
/// ban key was the full address with its port, so the first assertion failed (two keys).
/// </summary>
public sealed class BanIdentityTests
{
    private static ActorPath At(string host, int port) => new RootActorPath(new Address("akka.auth.tcp", "distrnn", host, port)) / "user" / "worker";

    [Fact]
    public void A_machine_is_banned_whatever_port_its_worker_comes_back_on()
    {
        Assert.Equal(BanIdentity.Of(At("10.0.0.5", 40001)), BanIdentity.Of(At("10.0.0.5", 40002)));
        Assert.Equal(BanIdentity.Of(At("Worker-3.example", 1)), BanIdentity.Of(At("worker-3.example", 2)));
        Assert.NotEqual(BanIdentity.Of(At("10.0.0.5", 40001)), BanIdentity.Of(At("10.0.0.6", 40001)));
    }

    [Fact]
    public void On_loopback_where_every_local_node_shares_the_address_the_ban_is_by_port()
    {
        Assert.NotEqual(BanIdentity.Of(At("127.0.0.1", 40001)), BanIdentity.Of(At("127.0.0.1", 40002)));
        Assert.NotEqual(BanIdentity.Of(At("localhost", 40001)), BanIdentity.Of(At("localhost", 40002)));
        Assert.NotEqual(BanIdentity.Of(At("::1", 40001)), BanIdentity.Of(At("::1", 40002)));
        Assert.Equal(BanIdentity.Of(At("127.0.0.1", 40001)), BanIdentity.Of(At("127.0.0.1", 40001)));
    }

    [Fact]
    public void A_worker_inside_this_process_is_banned_by_its_path()
    {
        var local = new RootActorPath(new Address("akka", "distrnn")) / "user" / "w1";
        Assert.Equal(local.ToString(), BanIdentity.Of(local));
    }
}
