using System.Net;
using System.Net.Sockets;
using Akka.Actor;

namespace DistRnn.Worker.Node;

/// <summary>
/// The one node this worker takes as its coordinator: the member with the coordinator role at its <c>--join</c>
/// address (the port, and the host as given or any address it resolves to). Any other member claiming the role —
/// a node with a worker's certificate, say — is ignored, and only this one leaving counts as the coordinator gone.
/// A worker that finds the cluster through discovery (<c>--discovery</c>) has no such address: its pin takes a
/// coordinator-role member on any contact point's host (config discovery) or anywhere (Kubernetes, where the secret
/// and, with TLS, the coordinator-role certificate are what keep a poser out).
/// </summary>
public sealed class CoordinatorPin
{
    private readonly HashSet<string>? _hosts;

    private CoordinatorPin(int? port, IEnumerable<string>? hosts)
    {
        Port = port;
        _hosts = hosts is null ? null : new HashSet<string>(hosts, StringComparer.OrdinalIgnoreCase);
    }

    /// <summary>Null: any port (discovery).</summary>
    public int? Port { get; }

    /// <summary>The pin for <paramref name="join"/>; its host is resolved once (a name that does not resolve is matched as written).</summary>
    public static CoordinatorPin For(Address join) => new(join.Port ?? 0, Resolved([join.Host!]));

    /// <summary>Discovery: a coordinator on any port of <paramref name="hosts"/> (resolved once), or anywhere when null.</summary>
    public static CoordinatorPin OnHosts(IEnumerable<string>? hosts) => new(null, hosts is null ? null : Resolved(hosts));

    private static List<string> Resolved(IEnumerable<string> names)
    {
        var hosts = new List<string>();
        foreach (var name in names)
        {
            hosts.Add(name);
            try { hosts.AddRange(Dns.GetHostAddresses(name).Select(Canonical)); }
            catch (SocketException) { }
            catch (ArgumentException) { }
        }
        return hosts;
    }

    /// <summary>For tests and for a join address that is already an IP address.</summary>
    public static CoordinatorPin Exactly(string host, int port) => new(port, [host]);

    /// <summary>True for the coordinator at the pinned address (a member that advertises a host name is matched by what it resolves to).</summary>
    public bool Matches(Address member)
    {
        if ((Port is int port && member.Port != port) || member.Host is not string h) return false;
        if (_hosts is null || _hosts.Contains(h)) return true;
        if (IPAddress.TryParse(h, out var ip)) return _hosts.Contains(Canonical(ip));
        try { return Dns.GetHostAddresses(h).Any(a => _hosts.Contains(Canonical(a))); }
        catch (SocketException) { return false; }
        catch (ArgumentException) { return false; }
    }

    private static string Canonical(IPAddress ip) => (ip.IsIPv4MappedToIPv6 ? ip.MapToIPv4() : ip).ToString();
}
