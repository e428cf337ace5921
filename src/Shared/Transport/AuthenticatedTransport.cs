using Akka.Actor;
using Akka.Actor.Setup;
using Akka.Configuration;
using Akka.Event;
using Akka.Remote.Transport;
using DistRnn.Security;
using Google.Protobuf;

namespace DistRnn.Transport;

/// <summary>
/// The run's shared secret handed to <see cref="AuthenticatedTransport"/> (an actor-system setup, since Akka creates
/// transport adapters by type name), plus what it refused: for the node's messages and for tests.
/// </summary>
/// <summary>A connection the secret's handshake refused.</summary>
/// <param name="Peer">the other end (for a connection this node dialled, the address it dialled)</param>
/// <param name="WrongSecret">the peer answered the handshake but with another secret's proof: a configuration error, not noise</param>
public sealed record TransportRefusal(Address Peer, string Why, bool WrongSecret)
{
    public override string ToString() => $"{Peer.Host}:{Peer.Port} {Why}";
}

/// <param name="onRefusal">told each refusal (the node prints them through a rate limit); called on transport threads</param>
public sealed class TransportAuthentication(SharedSecret secret, Action<TransportRefusal>? onRefusal = null) : Setup
{
    /// <summary>Connections that have not finished the handshake at one time, at most (see <see cref="AuthenticatedTransport"/>).</summary>
    public const int MaxPendingHandshakes = 4;
    public static readonly TimeSpan HandshakeTimeout = TimeSpan.FromSeconds(5);

    public SharedSecret Secret { get; } = secret;

    private int _refused;
    public int Refused => Volatile.Read(ref _refused);
    /// <summary>The latest refusal, e.g. "127.0.0.1:40422 does not prove the run's secret".</summary>
    public string? LastRefusal { get; private set; }

    internal void Refuse(TransportRefusal refusal)
    {
        Interlocked.Increment(ref _refused);
        LastRefusal = refusal.ToString();
        onRefusal?.Invoke(refusal);
    }

    /// <summary>
    /// The HOCON that makes <see cref="AuthenticatedTransport"/> the node's TCP transport (DotNetty, with or without
    /// TLS, under it). It is named as the transport class rather than through <c>akka.remote.adapters</c>, whose
    /// values Akka 1.5 reads with their quotes (so no assembly-qualified name resolves there).
    /// </summary>
    public static string Hocon => $$"""
        akka.remote.dot-netty.tcp.transport-class = "{{typeof(AuthenticatedTransport).AssemblyQualifiedName!.Split(", Version")[0]}}"
        """;
}

/// <summary>
/// An Akka.Remote transport adapter: every connection, in and out, first passes the shared-secret handshake of
/// <see cref="TransportHandshake"/>, and every frame after it carries a MAC. Akka's own protocol (association,
/// cluster join, gossip, heartbeats, our messages) only ever sees connections from nodes that hold the secret.
/// A connection that is not through the handshake within <see cref="TransportAuthentication.HandshakeTimeout"/> is
/// closed, and at most <see cref="TransportAuthentication.MaxPendingHandshakes"/> are in it at once: a new one closes
/// the oldest (an honest peer is through in one round trip, so a flood of idle connections cannot keep it out), and
/// what unauthenticated peers can make this process hold is bounded by that many frames.
/// </summary>
public sealed class AuthenticatedTransport : AbstractTransportAdapter, IAssociationEventListener
{
    /// <summary>The address scheme gets this part (akka.auth.tcp, akka.auth.ssl.tcp): a node without the adapter cannot even name one with it.</summary>
    public const string SchemePart = "auth";
    private static readonly SchemeAugmenter Augmenter = new(SchemePart);

    private readonly TransportAuthentication _auth;
    private readonly TaskCompletionSource<IAssociationEventListener> _upstream = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly LinkedList<AuthenticatedHandle> _pending = new(); // oldest first; under its own lock

    /// <summary>Akka creates the transport by type name with these arguments, as it would DotNetty's own.</summary>
    public AuthenticatedTransport(ActorSystem system, Config config) : base(DotNettyTcp(system, config))
    {
        System = system;
        Config = config;
        var auth = system.Settings.Setup.Get<TransportAuthentication>();
        _auth = auth.HasValue ? auth.Value : throw new InvalidOperationException($"{nameof(AuthenticatedTransport)} needs a {nameof(TransportAuthentication)} setup (the run's secret)");
    }

    /// <summary>Akka.Remote's DotNetty TCP transport (internal to Akka, so made the way Akka makes it: by type name).</summary>
    private static Akka.Remote.Transport.Transport DotNettyTcp(ActorSystem system, Config config) =>
        (Akka.Remote.Transport.Transport)Activator.CreateInstance(Type.GetType("Akka.Remote.Transport.DotNetty.TcpTransport, Akka.Remote", throwOnError: true)!, system, config)!;

    protected override SchemeAugmenter SchemeAugmenter => Augmenter;

    public override long MaximumPayloadBytes => WrappedTransport.MaximumPayloadBytes - TransportHandshake.TagBytes;

    protected override Task<IAssociationEventListener> InterceptListen(Address listenAddress, Task<IAssociationEventListener> listenerTask)
    {
        listenerTask.ContinueWith(t => _upstream.TrySetResult(t.Result), TaskContinuationOptions.OnlyOnRanToCompletion);
        return Task.FromResult<IAssociationEventListener>(this);
    }

    protected override void InterceptAssociate(Address remoteAddress, TaskCompletionSource<AssociationHandle> statusPromise)
    {
        WrappedTransport.Associate(remoteAddress).ContinueWith(t =>
        {
            if (!t.IsCompletedSuccessfully) { statusPromise.TrySetException(t.Exception?.GetBaseException() ?? new InvalidAssociationException("association failed")); return; }
            var handle = new AuthenticatedHandle(t.Result, TransportHandshake.Side.Dialler, _auth);
            handle.Authenticated.ContinueWith(a =>
            {
                if (a.Result is null) statusPromise.TrySetResult(handle);
                else statusPromise.TrySetException(new InvalidAssociationException($"{remoteAddress}: {a.Result}"));
            }, TaskContinuationOptions.ExecuteSynchronously);
        }, TaskContinuationOptions.ExecuteSynchronously);
    }

    /// <summary>A connection came in: it reaches Akka only once it has proved the secret.</summary>
    public void Notify(IAssociationEvent ev)
    {
        if (ev is not InboundAssociation inbound) return;
        var handle = new AuthenticatedHandle(inbound.Association, TransportHandshake.Side.Listener, _auth);
        AuthenticatedHandle? oldest = null;
        LinkedListNode<AuthenticatedHandle> node;
        lock (_pending)
        {
            if (_pending.Count >= TransportAuthentication.MaxPendingHandshakes) { oldest = _pending.First!.Value; _pending.RemoveFirst(); }
            node = _pending.AddLast(handle);
        }
        oldest?.Evict($"closed: {TransportAuthentication.MaxPendingHandshakes} newer connections came while it had not proved the secret");
        handle.Authenticated.ContinueWith(async a =>
        {
            lock (_pending) if (node.List is not null) _pending.Remove(node);
            if (a.Result is not null) return;
            (await _upstream.Task.ConfigureAwait(false)).Notify(new InboundAssociation(handle));
        }, TaskContinuationOptions.ExecuteSynchronously);
    }
}

/// <summary>One connection of <see cref="AuthenticatedTransport"/>: the handshake, then sealed frames both ways.</summary>
internal sealed class AuthenticatedHandle : AbstractTransportAdapterHandle, IHandleEventListener
{
    private readonly TransportHandshake.Side _side;
    private readonly TransportAuthentication _auth;
    private readonly TaskCompletionSource<string?> _authenticated = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly byte[] _myNonce = TransportHandshake.NewNonce();
    private byte[]? _theirNonce;
    private TransportHandshake.Keys? _keys;
    private ulong _sent, _received;
    private readonly object _sendLock = new(), _receiveLock = new();
    private IHandleEventListener? _listener;
    private readonly Queue<IHandleEvent> _early = new();
    private readonly Timer _timeout;

    public AuthenticatedHandle(AssociationHandle wrapped, TransportHandshake.Side side, TransportAuthentication auth)
        : base(wrapped, AuthenticatedTransport.SchemePart)
    {
        _side = side;
        _auth = auth;
        _timeout = new Timer(_ => Fail("did not finish the handshake in time"), null, TransportAuthentication.HandshakeTimeout, Timeout.InfiniteTimeSpan);
        ReadHandlerSource.Task.ContinueWith(t => SetListener(t.Result), TaskContinuationOptions.ExecuteSynchronously | TaskContinuationOptions.OnlyOnRanToCompletion);
        WrappedHandle.ReadHandlerSource.TrySetResult(this);
        if (side == TransportHandshake.Side.Dialler) WrappedHandle.Write(ByteString.CopyFrom(TransportHandshake.Hello(_myNonce)));
    }

    /// <summary>Null once the peer has proved the secret; otherwise why not.</summary>
    public Task<string?> Authenticated => _authenticated.Task;

    public override bool Write(ByteString payload)
    {
        var keys = _keys;
        if (keys is null) return false;
        lock (_sendLock)
        {
            var frame = TransportHandshake.Seal(keys.Send, _sent, payload.Span);
            if (!WrappedHandle.Write(UnsafeByteOperations.UnsafeWrap(frame))) return false; // not sent: Akka retries it with the same number
            _sent++;
            return true;
        }
    }

    [Obsolete("Akka's own callers use the overload with a reason")]
    public override void Disassociate() => Close("closed by Akka");

    private void Close(string why) => WrappedHandle.Disassociate(why, NoLogger.Instance);

    public void Notify(IHandleEvent ev)
    {
        lock (_receiveLock)
        {
            if (_keys is null) { Handshake(ev); return; }
            if (ev is InboundPayload p)
            {
                int n = TransportHandshake.Open(_keys.Receive, _received, p.Payload.Span);
                if (n < 0) { _auth.Refuse(new(OriginalRemoteAddress, "sent a frame that failed its MAC; connection closed", false)); Close("a frame failed its MAC"); return; }
                _received++;
                ev = new InboundPayload(UnsafeByteOperations.UnsafeWrap(p.Payload.Memory[..n]));
            }
            if (_listener is null) _early.Enqueue(ev);
            else _listener.Notify(ev);
        }
    }

    private void SetListener(IHandleEventListener listener)
    {
        lock (_receiveLock)
        {
            while (_early.TryDequeue(out var ev)) listener.Notify(ev);
            _listener = listener;
        }
    }

    /// <summary>Called under the receive lock, before the keys exist.</summary>
    private void Handshake(IHandleEvent ev)
    {
        if (ev is not InboundPayload p) { Fail("closed the connection during the secret's handshake (a node with another secret, or not a DistRnn node)"); return; }
        var frame = p.Payload.Span;
        var secret = _auth.Secret;
        if (_side == TransportHandshake.Side.Listener && _theirNonce is null)
        {
            _theirNonce = TransportHandshake.ReadHello(frame);
            if (_theirNonce is null) { Fail("did not start the secret handshake (a node without --secret-file, or not a DistRnn node)"); return; }
            WrappedHandle.Write(ByteString.CopyFrom(TransportHandshake.Answer(secret, _theirNonce, _myNonce)));
        }
        else if (_side == TransportHandshake.Side.Listener)
        {
            if (!TransportHandshake.ReadConfirm(secret, _theirNonce!, _myNonce, frame)) { Fail("does not prove the run's secret"); return; }
            Open(TransportHandshake.KeysFor(secret, _side, _theirNonce!, _myNonce));
        }
        else
        {
            var listenerNonce = TransportHandshake.ReadAnswer(secret, _myNonce, frame);
            if (listenerNonce is null) { Fail("does not prove the run's secret", wrongSecret: frame.Length == TransportHandshake.AnswerBytes); return; }
            WrappedHandle.Write(ByteString.CopyFrom(TransportHandshake.Confirm(secret, _myNonce, listenerNonce)));
            Open(TransportHandshake.KeysFor(secret, _side, _myNonce, listenerNonce));
        }
    }

    /// <summary>Closes a connection still in the handshake to make room for a newer one.</summary>
    public void Evict(string why) => Fail(why);

    private void Open(TransportHandshake.Keys keys)
    {
        _timeout.Dispose();
        _keys = keys;
        _authenticated.TrySetResult(null);
    }

    private void Fail(string why, bool wrongSecret = false)
    {
        lock (_receiveLock) // the timer's thread and the connection's race here: the first decides
        {
            _timeout.Dispose();
            if (_keys is not null || !_authenticated.TrySetResult(why)) return;
        }
        _auth.Refuse(new(OriginalRemoteAddress, why, wrongSecret));
        Close(why);
    }
}
