using System.Net.Sockets;
using DistRnn.Security;
using DistRnn.Transport.DataChannel;

namespace DistRnn.Worker.Channel;

/// <summary>
/// The worker's end: connects to the coordinator's data port (or, for a peer link, another worker's), does TLS (when on)
/// and the proof, within the handshake timeout.
/// </summary>
public static class DataChannelClient
{
    /// <summary>
    /// An open connection, not yet started (<see cref="DataConnection.Start"/>), that receives parameter messages (<see cref="Protocol.ComputeSubtrees"/>) and sends results; throws when it
    /// cannot be set up (the caller goes on over Akka).
    /// </summary>
    /// <param name="peerLink">a peer link (<see cref="PeerLinks"/>): the peer roles of the proof, and nothing may come back on it</param>
    public static async Task<DataConnection> ConnectAsync(string host, int port, DataTicket ticket, string workerAddress, DataChannelLimits limits,
        NodeSecurity security, Action<DataDelivery> deliver, Action<string> closed, Diagnostics.TrafficCounter? traffic = null, CancellationToken ct = default,
        bool peerLink = false)
    {
        if (!ticket.IsWellFormed) throw new Protocol.ProtocolException("malformed data-channel ticket");
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(limits.Handshake);
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        limits.Tune(socket);
        Stream? stream = null;
        FrameKeys? keys;
        try
        {
            try
            {
                await socket.ConnectAsync(host, port, timeout.Token).ConfigureAwait(false);
                stream = new NetworkStream(socket, ownsSocket: true);
                stream = await ChannelTls.AsClientAsync(stream, security.Tls, null, timeout.Token).ConfigureAwait(false);
                bool sign = limits.SignsFrames(stream, security.Secret, socket.RemoteEndPoint);
                var (role, peerRole) = peerLink
                    ? (ChannelHandshake.PeerClientRole, ChannelHandshake.PeerServerRole)
                    : (ChannelHandshake.WorkerRole, ChannelHandshake.CoordinatorRole);
                keys = await ChannelHandshake.AsWorkerAsync(stream, ticket, workerAddress, security.Secret, sign, timeout.Token, role, peerRole).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                throw new TimeoutException($"no data channel to {host}:{port} within {limits.Handshake.TotalSeconds:F0} s");
            }
        }
        catch
        {
            if (stream is not null) await stream.DisposeAsync().ConfigureAwait(false);
            else socket.Dispose();
            throw;
        }
        // not started: the caller starts it once it is ready for what arrives (nothing is lost meanwhile, it waits in the socket)
        byte[] allowed = peerLink ? [] : [DataFrame.ComputeCode, DataFrame.TreeStepCode, DataFrame.TreeParametersCode];
        return new DataConnection(stream, limits, limits.NewPool(), allowed, deliver, closed, traffic, keys);
    }
}
