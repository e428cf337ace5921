using Akka.Actor;
using DistRnn.Security;

namespace DistRnn.Coordinator.Membership;

/// <summary>
/// What an exclusion bans: the worker's machine (its address without the port), so one restarted on another port is
/// still refused. On loopback every node of the machine shares the address, so there the ban is by port: the
/// machine's own users are not told apart, and a ban of 127.0.0.1 would refuse the honest local workers too.
/// A worker inside this process (no global address) is banned by its actor path.
/// </summary>
public static class BanIdentity
{
    public static string Of(ActorPath worker)
    {
        var a = worker.Address;
        if (!a.HasGlobalScope || a.Host is not string host) return worker.ToString();
        // no name lookup: this runs for every result
        return NodeSecurity.IsLoopbackLiteral(host) ? $"{host}:{a.Port}" : host.ToLowerInvariant();
    }
}
