using System.Buffers;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using DistRnn.Protocol;
using DistRnn.Security;
using DistRnn.Transport.DataChannel;

namespace DistRnn.Coordinator.Channel;

/// <summary>
/// The coordinator's end of the data channel: one TCP port on each address it is given, one ticket per registered
/// worker, at most one authenticated connection per worker. <typeparamref name="TWorker"/> is whatever names a worker to the caller
/// (the coordinator uses its actor reference). A connection is accepted only for an issued ticket, after TLS
/// (when on) and the proof (<see cref="ChannelHandshake"/>); each ticket works once. Results received go to
/// <c>deliver</c> with the worker they came from; a connection that breaks is reported to <c>lost</c>. Strangers are
/// bounded before they prove anything (<see cref="HandshakeAdmission"/>), and a failing accept pauses
/// (<see cref="AcceptBackoff"/>).
/// </summary>
public sealed class DataChannelServer<TWorker> : IDisposable where TWorker : notnull
{
    private readonly List<TcpListener> _listeners;
    private readonly HandshakeAdmission _admission = new(AdmissionLimits.Default);
    private readonly LogDigest _notes;
    private readonly DataChannelLimits _limits;
    private readonly NodeSecurity _security;
    private readonly ArrayPool<byte> _pool;
    private readonly Action<TWorker, DataDelivery> _deliver;
    private readonly Action<TWorker, string> _lost;
    private readonly ConcurrentDictionary<string, (DataTicket Ticket, string Address, TWorker Worker)> _tickets = new();
    private readonly ConcurrentDictionary<TWorker, DataConnection> _connections = new();
    private readonly CancellationTokenSource _life = new();
    private readonly Diagnostics.TrafficCounter? _traffic;

    /// <param name="bind">the addresses to listen on, all on one port (<see cref="ListenAddresses"/>)</param>
    /// <param name="traffic">counts the bytes of every connection (--metrics), or null</param>
    public DataChannelServer(IReadOnlyList<IPAddress> bind, DataChannelLimits limits, NodeSecurity security,
        Action<TWorker, DataDelivery> deliver, Action<TWorker, string> lost, Action<string> log, Diagnostics.TrafficCounter? traffic = null)
    {
        _limits = limits; _security = security; _deliver = deliver; _lost = lost; _traffic = traffic;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        _notes = new LogDigest(log, () => clock.Elapsed);
        _pool = limits.NewPool();
        _listeners = Listen(bind, limits);
        Port = ((IPEndPoint)_listeners[0].LocalEndpoint).Port;
        foreach (var listener in _listeners) _ = Task.Run(() => AcceptLoop(listener));
    }

    public int Port { get; }

    /// <summary>The addresses and port it listens on.</summary>
    public IReadOnlyList<IPEndPoint> Endpoints => _listeners.Select(l => (IPEndPoint)l.LocalEndpoint).ToList();

    /// <summary>Listeners on every one of <paramref name="addresses"/> with one port (the offer names one port).</summary>
    private static List<TcpListener> Listen(IReadOnlyList<IPAddress> addresses, DataChannelLimits limits)
    {
        if (addresses.Count == 0) throw new ArgumentException("no address to listen on", nameof(addresses));
        for (int attempt = 1; ; attempt++)
        {
            var listeners = new List<TcpListener>();
            try
            {
                foreach (var address in addresses)
                {
                    var listener = new TcpListener(address, listeners.Count == 0 ? 0 : ((IPEndPoint)listeners[0].LocalEndpoint).Port);
                    listeners.Add(listener);
                    limits.Tune(listener.Server); // accepted sockets inherit it, and the window it allows is agreed on at connect
                    listener.Start();
                }
                return listeners;
            }
            catch (SocketException e)
            {
                foreach (var listener in listeners) listener.Stop();
                // the port the first address got can be taken on another: a few tries with another port
                if (e.SocketErrorCode != SocketError.AddressAlreadyInUse || listeners.Count < 2 || attempt == 5) throw;
            }
        }
    }

    /// <summary>Connections authenticated and messages received so far (logs and tests: the channel was used).</summary>
    public int Accepted => Volatile.Read(ref _accepted);
    public long Received => Interlocked.Read(ref _received);
    private int _accepted;
    private long _received;

    /// <summary>A fresh ticket for <paramref name="worker"/>, which registered from <paramref name="workerAddress"/> (its previous ticket and connection end).</summary>
    public DataTicket Issue(TWorker worker, string workerAddress)
    {
        Drop(worker, null);
        foreach (var (id, t) in _tickets) if (EqualityComparer<TWorker>.Default.Equals(t.Worker, worker)) _tickets.TryRemove(id, out _);
        var ticket = DataTicket.New();
        _tickets[ticket.IdHex] = (ticket, workerAddress, worker);
        return ticket;
    }

    /// <summary>Sends over <paramref name="worker"/>'s connection; false when it has none (send over Akka).</summary>
    public bool TrySend(TWorker worker, object message) => _connections.TryGetValue(worker, out var c) && c.TrySend(message);

    public bool HasConnection(TWorker worker) => _connections.TryGetValue(worker, out var c) && c.IsOpen;

    /// <summary>Ends <paramref name="worker"/>'s ticket and connection without reporting it lost (it left, or was lost otherwise).</summary>
    public void Forget(TWorker worker)
    {
        foreach (var (id, t) in _tickets) if (EqualityComparer<TWorker>.Default.Equals(t.Worker, worker)) _tickets.TryRemove(id, out _);
        Drop(worker, null);
    }

    /// <summary>Breaks every open connection as a failing network would (each is reported lost): for fault tests.</summary>
    internal void BreakAll(string why)
    {
        foreach (var c in _connections.Values.ToList()) c.Close(why);
    }

    private void Drop(TWorker worker, string? why)
    {
        if (_connections.TryRemove(worker, out var c)) c.Close(why ?? "the worker no longer takes part");
    }

    private async Task AcceptLoop(TcpListener listener)
    {
        var backoff = new AcceptBackoff();
        while (!_life.IsCancellationRequested)
        {
            Socket socket;
            try { socket = await listener.AcceptSocketAsync(_life.Token).ConfigureAwait(false); }
            catch (Exception) when (_life.IsCancellationRequested) { return; }
            catch (ObjectDisposedException) { return; }
            catch (SocketException e)
            {
                var pause = backoff.Failed();
                _notes.Note($"accept {e.SocketErrorCode}", $"data channel: accepting a connection failed ({e.Message}); trying again in {pause.TotalMilliseconds:F0} ms");
                try { await Task.Delay(pause, _life.Token).ConfigureAwait(false); }
                catch (OperationCanceledException) { return; }
                continue;
            }
            backoff.Succeeded();
            var peer = socket.RemoteEndPoint as IPEndPoint;
            var source = peer?.Address is { IsIPv4MappedToIPv6: true } mapped ? mapped.MapToIPv4() : peer?.Address ?? IPAddress.None; // one host, one source
            if (_admission.TryAdmit(source, Descriptors.Free()) is string refusal)
            {
                Refused(peer, refusal);
                socket.Dispose();
                continue;
            }
            _ = Task.Run(() => Accept(socket, peer, source));
        }
    }

    private void Refused(IPEndPoint? peer, string why) =>
        _notes.Note(why, $"data channel: refused a connection from {peer?.ToString() ?? "a peer"}: {why}");

    private async Task Accept(Socket socket, IPEndPoint? peer, IPAddress source)
    {
        Stream? stream = null;
        TWorker worker;
        FrameKeys? keys;
        try
        {
            socket.NoDelay = true;
            _limits.Tune(socket);
            stream = new NetworkStream(socket, ownsSocket: true);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_life.Token);
            timeout.CancelAfter(_limits.Handshake);
            stream = await ChannelTls.AsServerAsync(stream, _security.Tls, problem => _notes.Note(problem, problem), timeout.Token).ConfigureAwait(false);
            (var ticket, keys) = await ChannelHandshake.AsCoordinatorAsync(stream, Claim, _security.Secret,
                _limits.SignsFrames(stream, _security.Secret, peer), timeout.Token).ConfigureAwait(false);
            worker = _claimed[ticket.IdHex];
            _claimed.TryRemove(ticket.IdHex, out _);
        }
        catch (Exception e)
        {
            if (!_life.IsCancellationRequested) Refused(peer, e is OperationCanceledException ? "handshake timed out" : e.GetBaseException().Message);
            if (stream is null) socket.Dispose();
            else await stream.DisposeAsync().ConfigureAwait(false);
            return;
        }
        finally { _admission.Release(source); } // after the descriptor of a failed one is closed
        DataConnection? connection = null;
        connection = new DataConnection(stream, _limits, _pool, [DataFrame.ResultCode, DataFrame.TreeSumCode],
            d => { Interlocked.Increment(ref _received); _deliver(worker, d); },
            why =>
            {
                // reported only while this is still the worker's connection (not when replaced or forgotten)
                if (_connections.TryRemove(new KeyValuePair<TWorker, DataConnection>(worker, connection!))) _lost(worker, why);
            }, _traffic, keys);
        Drop(worker, "replaced by a new connection");
        _connections[worker] = connection;
        Interlocked.Increment(ref _accepted);
        connection.Start();
    }

    private readonly ConcurrentDictionary<string, TWorker> _claimed = new();

    /// <summary>A ticket's details, once: the ticket is spent whatever the proof turns out to be.</summary>
    private (DataTicket, string)? Claim(byte[] id)
    {
        if (!_tickets.TryRemove(Convert.ToHexString(id), out var t)) return null;
        _claimed[t.Ticket.IdHex] = t.Worker;
        return (t.Ticket, t.Address);
    }

    public void Dispose()
    {
        _life.Cancel();
        foreach (var listener in _listeners)
            try { listener.Stop(); } catch (SocketException) { }
        foreach (var w in _connections.Keys.ToList()) Drop(w, "the coordinator stopped");
    }
}
