using System.Buffers;
using System.Threading.Channels;
using DistRnn.Protocol;
using DistRnn.Security;

namespace DistRnn.Transport.DataChannel;

/// <summary>
/// A received message whose tensor is a slice of a pooled frame buffer: whoever handles it copies the tensor
/// out and then calls <see cref="Release"/> (once; later calls do nothing). A message dropped without release
/// only costs its buffer to the garbage collector.
/// </summary>
public sealed class DataDelivery(object message, ArrayPool<byte> pool, byte[] buffer) : Akka.Actor.INoSerializationVerificationNeeded
{
    private byte[]? _buffer = buffer;
    public object Message { get; } = message;

    public void Release()
    {
        var b = Interlocked.Exchange(ref _buffer, null);
        if (b is not null) pool.Return(b);
    }
}

/// <summary>Limits and pools of one end of the data channel (the same for all its connections).</summary>
/// <param name="MaxTensorValues">the model's size: no frame may carry a larger tensor</param>
/// <param name="BodyTimeout">a frame whose header arrived must be complete within this (a stalled peer breaks the connection)</param>
/// <param name="WriteTimeout">one frame must be written within this (a peer that stops reading breaks the connection)</param>
/// <param name="HandshakeTimeout">connecting, TLS and the proof, all together</param>
/// <param name="SignLoopback">sign frames over loopback too (tests; see <see cref="SignsFrames"/>)</param>
public sealed record DataChannelLimits(int MaxTensorValues, TimeSpan? BodyTimeout = null, TimeSpan? WriteTimeout = null, TimeSpan? HandshakeTimeout = null,
    bool SignLoopback = false)
{
    public TimeSpan Body => BodyTimeout ?? TimeSpan.FromSeconds(30);
    public TimeSpan Write => WriteTimeout ?? TimeSpan.FromSeconds(30);
    public TimeSpan Handshake => HandshakeTimeout ?? TimeSpan.FromSeconds(10);
    public int MaxBody => DataFrame.MaxBodyBytes(MaxTensorValues);
    public WireLimits Wire => new(MaxTensorValues);

    /// <summary>
    /// Socket buffers as large as a frame (up to 4 MiB, what Linux allows without root by default): a whole parameter or
    /// gradient frame then goes out in one write and lands in one piece, instead of in 64–128 KiB rounds with a wake-up
    /// each. The kernel caps the request at net.core.[rw]mem_max.
    /// </summary>
    public void Tune(System.Net.Sockets.Socket socket)
    {
        int size = (int)Math.Min(4L << 20, DataFrame.HeaderBytes + (long)MaxBody);
        try
        {
            socket.SendBufferSize = size;
            socket.ReceiveBufferSize = size;
        }
        catch (System.Net.Sockets.SocketException) { /* the defaults work too, only slower */ }
    }

    /// <summary>
    /// Whether a connection's frames carry a MAC (<see cref="FrameMac"/>): with the run's secret, without TLS (which
    /// protects the frames itself), and not over loopback — only a process of this host, root, can be on that path,
    /// and it can read the secret's file too. Both ends decide alike: each sees the other's address, both loopback or
    /// neither, and the run's secret and TLS are the same on both (else the handshake fails).
    /// </summary>
    public bool SignsFrames(Stream afterTls, SharedSecret? secret, System.Net.EndPoint? peer) =>
        secret is not null && afterTls is not System.Net.Security.SslStream
        && (SignLoopback || !(peer is System.Net.IPEndPoint ip && System.Net.IPAddress.IsLoopback(ip.Address.IsIPv4MappedToIPv6 ? ip.Address.MapToIPv4() : ip.Address)));

    /// <summary>Frame buffers: a few per connection and direction are enough (a step has one parameter message and a few results in flight).</summary>
    public ArrayPool<byte> NewPool() => ArrayPool<byte>.Create(DataFrame.HeaderBytes + MaxBody, 16);
}

/// <summary>
/// One authenticated connection of the data channel: frames out through a queue and one writer task (so an
/// actor or a compute thread never blocks on the socket), frames in through one reader task that hands each
/// decoded message to <c>deliver</c>. Any failure — end of stream, a malformed or oversized frame, a stalled
/// peer (<see cref="DataChannelLimits"/>), a frame whose MAC does not verify (<see cref="FrameMac"/>, when the
/// handshake gave keys) — closes the connection once and reports why to <c>closed</c>; nothing waits without a bound.
/// A frame is handed on only after its MAC verified.
/// </summary>
public sealed class DataConnection : IDisposable
{
    private readonly Stream _stream;
    private readonly DataChannelLimits _limits;
    private readonly ArrayPool<byte> _pool;
    private readonly byte[] _allowed;
    private readonly Action<DataDelivery> _deliver;
    private readonly Action<string> _closed;
    private readonly Diagnostics.TrafficCounter? _traffic;
    private readonly FrameMac? _sign, _verify;
    private readonly Channel<object> _out = Channel.CreateUnbounded<object>(new UnboundedChannelOptions { SingleReader = true });
    private readonly CancellationTokenSource _life = new();
    private int _isClosed, _started;

    /// <param name="keys">the handshake's frame MAC keys: every frame out is signed and every frame in verified (null: the frames carry no MAC)</param>
    public DataConnection(Stream stream, DataChannelLimits limits, ArrayPool<byte> pool, byte[] allowedIncoming,
        Action<DataDelivery> deliver, Action<string> closed, Diagnostics.TrafficCounter? traffic = null, FrameKeys? keys = null)
    {
        _stream = stream; _limits = limits; _pool = pool; _allowed = allowedIncoming; _deliver = deliver; _closed = closed; _traffic = traffic;
        if (keys is not null) { _sign = new FrameMac(keys.Send); _verify = new FrameMac(keys.Receive); }
    }

    /// <summary>Whether this connection's frames carry a MAC.</summary>
    public bool SignsFrames => _sign is not null;

    public bool IsOpen => Volatile.Read(ref _isClosed) == 0;

    /// <summary>Starts the reader and the writer (after the handshake).</summary>
    public void Start()
    {
        if (Interlocked.Exchange(ref _started, 1) != 0) return;
        _ = Task.Run(ReadLoop);
        _ = Task.Run(WriteLoop);
    }

    /// <summary>Queues <paramref name="message"/>; false when the connection is closed (send it another way).</summary>
    public bool TrySend(object message) => IsOpen && _out.Writer.TryWrite(message);

    private async Task WriteLoop()
    {
        var tag = new byte[FrameMac.TagBytes];
        try
        {
            await foreach (var message in _out.Reader.ReadAllAsync(_life.Token).ConfigureAwait(false))
            {
                // the tensor's values go out straight from the sender's array, after the rest of the frame
                var (buffer, length, values) = DataFrame.EncodeParts(message, _pool);
                try
                {
                    _sign?.Sign(buffer.AsSpan(0, length), values.Span, tag);
                    using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_life.Token);
                    timeout.CancelAfter(_limits.Write);
                    try
                    {
                        await _stream.WriteAsync(buffer.AsMemory(0, length), timeout.Token).ConfigureAwait(false);
                        if (!values.IsEmpty) await _stream.WriteAsync(values, timeout.Token).ConfigureAwait(false);
                        if (_sign is not null) await _stream.WriteAsync(tag, timeout.Token).ConfigureAwait(false);
                        await _stream.FlushAsync(timeout.Token).ConfigureAwait(false);
                        _traffic?.AddSent(length + values.Length + (_sign is null ? 0 : tag.Length));
                    }
                    catch (OperationCanceledException) when (!_life.IsCancellationRequested)
                    {
                        Close($"the peer did not take a frame within {_limits.Write.TotalSeconds:F0} s");
                        return;
                    }
                }
                finally { _pool.Return(buffer); }
            }
        }
        catch (OperationCanceledException) { }
        catch (Exception e) { Close($"sending failed: {e.GetBaseException().Message}"); }
    }

    private async Task ReadLoop()
    {
        var header = new byte[DataFrame.HeaderBytes];
        var tag = new byte[FrameMac.TagBytes];
        try
        {
            while (true)
            {
                // between frames the peer may be silent as long as it likes (a step can be long); the step's deadline covers that
                int got = await _stream.ReadAtLeastAsync(header, header.Length, throwOnEndOfStream: false, _life.Token).ConfigureAwait(false);
                if (got == 0) { Close("the peer closed the connection"); return; }
                if (got < header.Length) { Close("the peer closed the connection inside a frame header"); return; }
                var (length, code) = DataFrame.Header(header, _limits.MaxBody, _allowed);
                var body = _pool.Rent(length);
                bool handed = false;
                try
                {
                    using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(_life.Token))
                    {
                        timeout.CancelAfter(_limits.Body);
                        try
                        {
                            await _stream.ReadExactlyAsync(body.AsMemory(0, length), timeout.Token).ConfigureAwait(false);
                            if (_verify is not null) await _stream.ReadExactlyAsync(tag, timeout.Token).ConfigureAwait(false);
                        }
                        catch (OperationCanceledException) when (!_life.IsCancellationRequested)
                        {
                            Close($"a frame of {length} bytes did not arrive within {_limits.Body.TotalSeconds:F0} s");
                            return;
                        }
                    }
                    _traffic?.AddReceived(header.Length + length + (_verify is null ? 0 : tag.Length));
                    if (_verify is not null && !_verify.Verify(header, body.AsSpan(0, length), tag))
                    {
                        Close("a frame failed its MAC check (altered on the way, or not from the peer that proved the handshake)");
                        return;
                    }
                    var message = DataFrame.Decode(code, body, length, _limits.Wire);
                    handed = true;
                    _deliver(new DataDelivery(message, _pool, body));
                }
                finally { if (!handed) _pool.Return(body); }
            }
        }
        catch (OperationCanceledException) { }
        catch (EndOfStreamException) { Close("the peer closed the connection inside a frame"); }
        catch (ProtocolException e) { Close($"malformed frame: {e.Message}"); }
        catch (Exception e) { Close($"receiving failed: {e.GetBaseException().Message}"); }
    }

    /// <summary>Closes the connection (once) and reports <paramref name="why"/>.</summary>
    public void Close(string why)
    {
        if (Interlocked.Exchange(ref _isClosed, 1) != 0) return;
        _out.Writer.TryComplete();
        _life.Cancel();
        try { _stream.Dispose(); } catch (Exception) { /* closing anyway */ }
        _closed(why);
    }

    public void Dispose() => Close("closed by this node");
}
