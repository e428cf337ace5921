using System.Net;
using System.Net.Sockets;
using Akka.Actor;

namespace DistRnn.Worker.Node;

/// <summary>
/// The nodes this worker may take as its coordinator: members with the coordinator role at one of its <c>--join</c>
/// addresses (the port, and the host as given or any address it resolves to) — the active coordinator and its
/// standbys (docs/failover.md). Any other member claiming the role — a node with a worker's certificate, say — is
/// ignored, and only a pinned one leaving counts as a coordinator gone. Which of them is followed: <see cref="CoordinatorChoice{TAddress}"/>.
/// A worker that finds the cluster through discovery (<c>--discovery</c>) has no such address: its pin takes a
/// coordinator-role member on any port of a contact point's host (config discovery) or anywhere (Kubernetes, where
/// the secret and, with TLS, the coordinator-role certificate are what keep a poser out).
/// </summary>
public sealed class CoordinatorPin
{
    /// <summary>Each pin: a port (null: any) and hosts (null: any).</summary>
    private readonly (int? Port, HashSet<string>? Hosts)[] _pins;

    private CoordinatorPin(IEnumerable<(int? Port, IEnumerable<string>? Hosts)> pins) =>
        _pins = pins.Select(p => (p.Port, p.Hosts is null ? null : new HashSet<string>(p.Hosts, StringComparer.OrdinalIgnoreCase))).ToArray();

    /// <summary>The pin for <paramref name="join"/>; each host is resolved once (a name that does not resolve is matched as written).</summary>
    public static CoordinatorPin For(params Address[] join) => new(join.Select(a => ((int?)(a.Port ?? 0), (IEnumerable<string>?)Resolved(a.Host!))));

    /// <summary>Discovery: a coordinator on any port of <paramref name="hosts"/> (resolved once), or anywhere when null.</summary>
    public static CoordinatorPin OnHosts(IEnumerable<string>? hosts) =>
        new([((int?)null, hosts?.SelectMany(Resolved).ToList())]);

    /// <summary>For tests and for a join address that is already an IP address.</summary>
    public static CoordinatorPin Exactly(string host, int port) => new([((int?)port, (IEnumerable<string>?)new[] { host })]);

    private static IEnumerable<string> Resolved(string host)
    {
        var hosts = new List<string> { host };
        try { hosts.AddRange(Dns.GetHostAddresses(host).Select(Canonical)); }
        catch (SocketException) { }
        catch (ArgumentException) { }
        return hosts;
    }

    /// <summary>True for a member at a pinned address (one that advertises a host name is matched by what it resolves to).</summary>
    public bool Matches(Address member)
    {
        if (member.Host is not string h) return false;
        var pins = _pins.Where(p => p.Port is null || p.Port == member.Port).ToList();
        if (pins.Count == 0) return false;
        if (pins.Any(p => p.Hosts is null || p.Hosts.Contains(h))) return true;
        if (IPAddress.TryParse(h, out var ip)) return pins.Any(p => p.Hosts!.Contains(Canonical(ip)));
        try { return Dns.GetHostAddresses(h).Any(a => pins.Any(p => p.Hosts!.Contains(Canonical(a)))); }
        catch (SocketException) { return false; }
        catch (ArgumentException) { return false; }
    }

    private static string Canonical(IPAddress ip) => (ip.IsIPv4MappedToIPv6 ? ip.MapToIPv4() : ip).ToString();
}

/// <summary>
/// Which pinned coordinator a worker follows: the oldest one that is up — where Akka's cluster singleton places the
/// run (Coordinator/Failover/Leadership) — so workers and the election agree without a word between them. When the
/// one followed is gone, the next oldest is followed (it takes the run over); none left: the worker starts over.
/// </summary>
/// <param name="addressOf">a member's address</param>
/// <param name="isOlder">whether the first member is older than the second (Akka's <c>Member.IsOlderThan</c>)</param>
public sealed class CoordinatorChoice<TMember, TAddress>(Func<TMember, TAddress> addressOf, Func<TMember, TMember, bool> isOlder)
    where TAddress : notnull where TMember : class
{
    private readonly Dictionary<TAddress, TMember> _up = new();
    private TMember? _current;

    /// <summary>The coordinator to follow now (null: none is up).</summary>
    public TAddress? Current => _current is null ? default : addressOf(_current);

    /// <returns>true when the coordinator to follow changed</returns>
    public bool Up(TMember member)
    {
        _up[addressOf(member)] = member;
        return Choose();
    }

    /// <returns>true when the coordinator to follow changed</returns>
    public bool Gone(TAddress address) => _up.Remove(address) && Choose();

    private bool Choose()
    {
        TMember? oldest = null;
        foreach (var m in _up.Values) if (oldest is null || isOlder(m, oldest)) oldest = m;
        if (ReferenceEquals(oldest, _current)) return false;
        bool changed = oldest is null || _current is null || !EqualityComparer<TAddress>.Default.Equals(addressOf(oldest), addressOf(_current));
        _current = oldest;
        return changed;
    }
}
