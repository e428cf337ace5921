using System.Net;
using System.Net.Sockets;
using Akka.Actor;

namespace DistRnn.Worker.Node;

/// <summary>
/// The one node this worker takes as its coordinator: the member with the coordinator role at its <c>--join</c>
/// address (the port, and the host as given or any address it resolves to). Any other member claiming the role —
/// a node with a worker's certificate, say — is ignored, and only this one leaving counts as the coordinator gone.
/// </summary>
public sealed class CoordinatorPin
{
    private readonly HashSet<string> _hosts;

    private CoordinatorPin(int port, IEnumerable<string> hosts)
    {
        Port = port;
        _hosts = new HashSet<string>(hosts, StringComparer.OrdinalIgnoreCase);
    }

    public int Port { get; }

    /// <summary>The pin for <paramref name="join"/>; its host is resolved once (a name that does not resolve is matched as written).</summary>
    public static CoordinatorPin For(Address join)
    {
        var hosts = new List<string> { join.Host! };
        try { hosts.AddRange(Dns.GetHostAddresses(join.Host!).Select(Canonical)); }
        catch (SocketException) { }
        catch (ArgumentException) { }
        return new CoordinatorPin(join.Port ?? 0, hosts);
    }

    /// <summary>For tests and for a join address that is already an IP address.</summary>
    public static CoordinatorPin Exactly(string host, int port) => new(port, [host]);

    /// <summary>True for the coordinator at the pinned address (a member that advertises a host name is matched by what it resolves to).</summary>
    public bool Matches(Address member)
    {
        if (member.Port != Port || member.Host is not string h) return false;
        if (_hosts.Contains(h)) return true;
        if (IPAddress.TryParse(h, out var ip)) return _hosts.Contains(Canonical(ip));
        try { return Dns.GetHostAddresses(h).Any(a => _hosts.Contains(Canonical(a))); }
        catch (SocketException) { return false; }
        catch (ArgumentException) { return false; }
    }

    private static string Canonical(IPAddress ip) => (ip.IsIPv4MappedToIPv6 ? ip.MapToIPv4() : ip).ToString();
}
