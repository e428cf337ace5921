using System.Net;
using System.Net.Sockets;

namespace DistRnn.Coordinator.Channel;

/// <summary>
/// Where the data channel listens for the host of --listen: an address as written; a host name, every address it
/// resolves to (IPv6 ones where this machine has IPv6), since a worker may reach it at any of them — never every
/// interface, which would open the port on networks the user did not name.
/// </summary>
public static class ListenAddresses
{
    /// <exception cref="SocketException">the name does not resolve</exception>
    public static IReadOnlyList<IPAddress> Of(string host)
    {
        if (IPAddress.TryParse(host, out var address)) return [address];
        var resolved = Dns.GetHostAddresses(host)
            .Where(a => a.AddressFamily == AddressFamily.InterNetwork || (a.AddressFamily == AddressFamily.InterNetworkV6 && Socket.OSSupportsIPv6))
            .Distinct().ToList();
        return resolved.Count > 0 ? resolved : throw new SocketException((int)SocketError.HostNotFound);
    }
}
