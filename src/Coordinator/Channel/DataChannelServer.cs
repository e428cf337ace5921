using System.Buffers;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using DistRnn.Protocol;
using DistRnn.Security;
using DistRnn.Transport.DataChannel;

namespace DistRnn.Coordinator.Channel;

/// <summary>
/// The coordinator's end of the data channel: one TCP listener, one ticket per registered worker, at most one
/// authenticated connection per worker. <typeparamref name="TWorker"/> is whatever names a worker to the caller
/// (the coordinator uses its actor reference). A connection is accepted only for an issued ticket, after TLS
/// (when on) and the proof (<see cref="ChannelHandshake"/>); each ticket works once. Results received go to
/// <c>deliver</c> with the worker they came from; a connection that breaks is reported to <c>lost</c>.
/// </summary>
public sealed class DataChannelServer<TWorker> : IDisposable where TWorker : notnull
{
    private readonly TcpListener _listener;
    private readonly DataChannelLimits _limits;
    private readonly NodeSecurity _security;
    private readonly ArrayPool<byte> _pool;
    private readonly Action<TWorker, DataDelivery> _deliver;
    private readonly Action<TWorker, string> _lost;
    private readonly Action<string> _log;
    private readonly ConcurrentDictionary<string, (DataTicket Ticket, string Address, TWorker Worker)> _tickets = new();
    private readonly ConcurrentDictionary<TWorker, DataConnection> _connections = new();
    private readonly CancellationTokenSource _life = new();

    public DataChannelServer(IPAddress bind, DataChannelLimits limits, NodeSecurity security,
        Action<TWorker, DataDelivery> deliver, Action<TWorker, string> lost, Action<string> log)
    {
        _limits = limits; _security = security; _deliver = deliver; _lost = lost; _log = log;
        _pool = limits.NewPool();
        _listener = new TcpListener(bind, 0);
        limits.Tune(_listener.Server); // accepted sockets inherit it, and the window it allows is agreed on at connect
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _ = Task.Run(AcceptLoop);
    }

    public int Port { get; }

    /// <summary>The addresses and port it listens on.</summary>
    public IReadOnlyList<IPEndPoint> Endpoints => [(IPEndPoint)_listener.LocalEndpoint];

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

    private async Task AcceptLoop()
    {
        while (!_life.IsCancellationRequested)
        {
            Socket socket;
            try { socket = await _listener.AcceptSocketAsync(_life.Token).ConfigureAwait(false); }
            catch (Exception) when (_life.IsCancellationRequested) { return; }
            catch (SocketException) { continue; }
            catch (ObjectDisposedException) { return; }
            _ = Task.Run(() => Accept(socket));
        }
    }

    private async Task Accept(Socket socket)
    {
        socket.NoDelay = true;
        _limits.Tune(socket);
        Stream stream = new NetworkStream(socket, ownsSocket: true);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_life.Token);
        timeout.CancelAfter(_limits.Handshake);
        TWorker worker;
        try
        {
            stream = await ChannelTls.AsServerAsync(stream, _security.Tls, _log, timeout.Token).ConfigureAwait(false);
            var ticket = await ChannelHandshake.AsCoordinatorAsync(stream, Claim, _security.Secret, timeout.Token).ConfigureAwait(false);
            worker = _claimed[ticket.IdHex];
            _claimed.TryRemove(ticket.IdHex, out _);
        }
        catch (Exception e)
        {
            if (!_life.IsCancellationRequested)
                _log($"data channel: refused a connection from {socket.RemoteEndPoint?.ToString() ?? "a peer"}: {(e is OperationCanceledException ? "handshake timed out" : e.GetBaseException().Message)}");
            await stream.DisposeAsync().ConfigureAwait(false);
            return;
        }
        DataConnection? connection = null;
        connection = new DataConnection(stream, _limits, _pool, [DataFrame.ResultCode],
            d => { Interlocked.Increment(ref _received); _deliver(worker, d); },
            why =>
            {
                // reported only while this is still the worker's connection (not when replaced or forgotten)
                if (_connections.TryRemove(new KeyValuePair<TWorker, DataConnection>(worker, connection!))) _lost(worker, why);
            });
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
        try { _listener.Stop(); } catch (SocketException) { }
        foreach (var w in _connections.Keys.ToList()) Drop(w, "the coordinator stopped");
    }
}
