using System.Net;
using System.Net.Sockets;

namespace DistRnn.Tests.MultiProcess;

internal static class Ports
{
    /// <summary>
    /// A TCP port that is free on <paramref name="address"/> now (the OS picks it; a program started next
    /// binds it). Another process could take it in between — unlikely in the ephemeral range, and the
    /// failure would be loud (the coordinator says it cannot listen there, exit 2).
    /// </summary>
    public static int Free(string address = "127.0.0.1")
    {
        var l = new TcpListener(IPAddress.Parse(address), 0);
        l.Start();
        try { return ((IPEndPoint)l.LocalEndpoint).Port; }
        finally { l.Stop(); }
    }
}
