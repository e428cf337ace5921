using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using DistRnn.Security;
using DistRnn.Transport.DataChannel;

namespace DistRnn.Worker.Channel;

/// <summary>
/// A worker's peer links on the tree data plane (docs/data-plane.md): data connections to and from other workers of the
/// run for the tree's chunks (<see cref="Protocol.TreeParameters"/>, <see cref="Protocol.TreeSum"/>), beside Akka. It
/// listens on one port of the worker's host (sent to the coordinator with the registration, which names every worker's
/// endpoint in each plan) and opens one connection per peer it sends to, kept across steps. Each connection carries one
/// direction: the connecting worker sends, the accepting one receives. Both ends prove the run's peer ticket (handed to
/// every worker of the plan by the coordinator, over its secured link) and the run's secret with
/// <see cref="ChannelHandshake"/> in the peer roles, after TLS with the run's CA when TLS is on; frames are bounded by
/// the model's size. <see cref="TrySend"/> never waits: without an open link it starts one (at most one attempt per peer
/// every <see cref="RetryAfter"/>) and says false, so the caller sends over Akka; a link that breaks is reported to
/// <c>closed</c> with its endpoint, since what was queued on it may be lost (the caller sends it again over Akka).
/// </summary>
public sealed class PeerLinks : IDisposable
{
    /// <summary>At most this many handshakes at once (strangers cannot tie up more before they prove anything).</summary>
    public const int MaxPendingHandshakes = 32;
    public static readonly TimeSpan RetryAfter = TimeSpan.FromSeconds(3);
    /// <summary>How long an accepted connection may wait for this worker's first plan before its handshake starts (then the handshake's own bound).</summary>
    private static readonly TimeSpan FirstPlanWait = TimeSpan.FromSeconds(10);

    private sealed class Outgoing
    {
        public DataConnection? Connection;
        public bool Connecting;
        public TimeSpan FailedAt = -RetryAfter; // the first attempt may start at once
    }

    private readonly TcpListener _listener;
    private readonly NodeSecurity _security;
    private readonly Action<DataDelivery> _deliver;
    private readonly Action<string, string> _closed;
    private readonly Action<string> _note;
    private readonly Diagnostics.TrafficCounter? _traffic;
    private readonly ConcurrentDictionary<string, Outgoing> _out = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<DataConnection, byte> _in = new();
    private readonly CancellationTokenSource _life = new();
    private readonly System.Diagnostics.Stopwatch _clock = System.Diagnostics.Stopwatch.StartNew();
    private volatile DataChannelLimits? _limits;
    private volatile DataTicket? _ticket;
    private int _pending;

    /// <param name="host">the worker's own host (its Akka address): the port is opened there</param>
    /// <param name="deliver">a chunk received from a peer (any thread; the receiver copies it out and releases it)</param>
    /// <param name="closed">an outgoing link broke: its endpoint and why</param>
    public PeerLinks(string host, NodeSecurity security, Action<DataDelivery> deliver, Action<string, string> closed, Action<string> note,
        Diagnostics.TrafficCounter? traffic = null)
    {
        _security = security; _deliver = deliver; _closed = closed; _note = note; _traffic = traffic;
        var bind = IPAddress.TryParse(host, out var address) ? address : IPAddress.Any;
        _listener = new TcpListener(bind, 0);
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _ = Task.Run(AcceptLoop);
    }

    public int Port { get; }

    /// <summary>Links opened and chunks received so far (tests: the links were used).</summary>
    public int Opened => Volatile.Read(ref _opened);
    public long Received => Interlocked.Read(ref _received);
    private int _opened;
    private long _received;

    /// <summary>The run's model (frames are bounded by it); nothing is accepted or sent before.</summary>
    public void Configure(DataChannelLimits limits) => _limits = limits;

    /// <summary>The run's peer ticket, from the coordinator's latest plan (a malformed one is ignored).</summary>
    public void UseTicket(DataTicket ticket)
    {
        if (!ticket.IsWellFormed) return;
        var old = _ticket;
        if (old is not null && old.Id.AsSpan().SequenceEqual(ticket.Id) && old.Key.AsSpan().SequenceEqual(ticket.Key)) return;
        _ticket = ticket;
        if (old is not null) CloseAll("the run's peer ticket changed"); // a new coordinator: links proven with the old one end
    }

    /// <summary>Queues <paramref name="message"/> on the open link to <paramref name="endpoint"/> ("host:port"); false (and a link started) when there is none.</summary>
    public bool TrySend(string endpoint, object message)
    {
        if (string.IsNullOrEmpty(endpoint) || _limits is null || _ticket is null || _life.IsCancellationRequested) return false;
        var link = _out.GetOrAdd(endpoint, _ => new Outgoing());
        lock (link)
        {
            if (link.Connection is { } c && c.TrySend(message)) return true;
            if (!link.Connecting && _clock.Elapsed - link.FailedAt >= RetryAfter)
            {
                link.Connecting = true;
                link.Connection = null;
                _ = Task.Run(() => Connect(endpoint, link));
            }
            return false;
        }
    }

    /// <summary>Whether a link to <paramref name="endpoint"/> is open (tests).</summary>
    public bool IsOpen(string endpoint) => _out.TryGetValue(endpoint, out var l) && l.Connection is { IsOpen: true };

    /// <summary>Breaks every link as a failing network would (outgoing ones are reported): for fault tests.</summary>
    internal void BreakAll(string why) => CloseAll(why);

    private void CloseAll(string why)
    {
        foreach (var link in _out.Values)
        {
            DataConnection? c;
            lock (link) c = link.Connection;
            c?.Close(why);
        }
        foreach (var c in _in.Keys) c.Close(why);
    }

    private static (string Host, int Port)? Parse(string endpoint)
    {
        int colon = endpoint.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(endpoint.AsSpan(colon + 1), out int port) || port is <= 0 or > 65535) return null;
        return (endpoint[..colon].Trim('[', ']'), port);
    }

    private async Task Connect(string endpoint, Outgoing link)
    {
        var limits = _limits!;
        var ticket = _ticket!;
        DataConnection? connection = null;
        try
        {
            if (Parse(endpoint) is not var (host, port)) throw new FormatException($"malformed peer endpoint '{endpoint}'");
            // nothing comes back on a link this side opened: any frame from the peer is a protocol error and breaks it
            connection = await DataChannelClient.ConnectAsync(host, port, ticket, ChannelHandshake.PeerAddress, limits, _security, _ => { },
                why => Lost(endpoint, link, connection!, why), _traffic, _life.Token, peerLink: true).ConfigureAwait(false);
            lock (link) { link.Connection = connection; link.Connecting = false; }
            if (Interlocked.Increment(ref _opened) == 1) _note($"peer link to {endpoint} open: the tree's chunks to other workers go over peer links");
            connection.Start();
        }
        catch (Exception e)
        {
            lock (link) { link.Connecting = false; link.FailedAt = _clock.Elapsed; }
            if (!_life.IsCancellationRequested)
                _note($"no peer link to {endpoint} ({(e is OperationCanceledException ? "timed out" : e.GetBaseException().Message)}); its tree chunks go over Akka");
        }
    }

    private void Lost(string endpoint, Outgoing link, DataConnection connection, string why)
    {
        lock (link)
        {
            if (!ReferenceEquals(link.Connection, connection)) return;
            link.Connection = null;
            link.FailedAt = _clock.Elapsed;
        }
        if (!_life.IsCancellationRequested) _closed(endpoint, why);
    }

    private async Task AcceptLoop()
    {
        while (!_life.IsCancellationRequested)
        {
            Socket socket;
            try { socket = await _listener.AcceptSocketAsync(_life.Token).ConfigureAwait(false); }
            catch (Exception) when (_life.IsCancellationRequested) { return; }
            catch (ObjectDisposedException) { return; }
            catch (SocketException)
            {
                try { await Task.Delay(100, _life.Token).ConfigureAwait(false); } catch (OperationCanceledException) { return; }
                continue;
            }
            if (Interlocked.Increment(ref _pending) > MaxPendingHandshakes)
            {
                Interlocked.Decrement(ref _pending);
                socket.Dispose();
                continue;
            }
            _ = Task.Run(() => Accept(socket));
        }
    }

    private async Task Accept(Socket socket)
    {
        string remote = (socket.RemoteEndPoint as IPEndPoint)?.ToString() ?? "a peer";
        Stream? stream = null;
        FrameKeys? keys;
        try
        {
            // a peer with this step's plan may connect a moment before this worker has its own (the run's limits, the ticket)
            var waited = System.Diagnostics.Stopwatch.StartNew();
            while ((_limits is null || _ticket is null) && waited.Elapsed < FirstPlanWait)
                await Task.Delay(10, _life.Token).ConfigureAwait(false);
            var runLimits = _limits ?? throw new OperationCanceledException();
            var ticket = _ticket ?? throw new OperationCanceledException();
            socket.NoDelay = true;
            runLimits.Tune(socket);
            stream = new NetworkStream(socket, ownsSocket: true);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_life.Token);
            timeout.CancelAfter(runLimits.Handshake);
            stream = await ChannelTls.AsServerAsync(stream, _security.Tls, null, timeout.Token).ConfigureAwait(false);
            (_, keys) = await ChannelHandshake.AsCoordinatorAsync(stream,
                id => id.AsSpan().SequenceEqual(ticket.Id) ? (ticket, ChannelHandshake.PeerAddress) : null,
                _security.Secret, runLimits.SignsFrames(stream, _security.Secret, socket.RemoteEndPoint), timeout.Token, ChannelHandshake.PeerServerRole, ChannelHandshake.PeerClientRole).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            if (stream is null) socket.Dispose();
            else await stream.DisposeAsync().ConfigureAwait(false);
            if (!_life.IsCancellationRequested)
                _note($"refused a peer link from {remote}: {(e is OperationCanceledException ? "handshake timed out" : e.GetBaseException().Message)}");
            return;
        }
        finally { Interlocked.Decrement(ref _pending); }
        var limits = _limits!;
        DataConnection? connection = null;
        connection = new DataConnection(stream, limits, limits.NewPool(), [DataFrame.TreeParametersCode, DataFrame.TreeSumCode],
            d => { Interlocked.Increment(ref _received); _deliver(d); },
            why => _in.TryRemove(connection!, out byte _), _traffic, keys);
        _in[connection] = 0;
        if (_life.IsCancellationRequested) { connection.Close("stopped"); return; }
        connection.Start();
    }

    public void Dispose()
    {
        if (_life.IsCancellationRequested) return;
        _life.Cancel();
        try { _listener.Stop(); } catch (SocketException) { }
        CloseAll("the worker stopped");
    }
}
