using System.Buffers;
using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using DistRnn.Coordinator.Channel;
using DistRnn.Protocol;
using DistRnn.Reduction;
using DistRnn.Security;
using DistRnn.Tests.Security;
using DistRnn.Transport.DataChannel;
using DistRnn.Worker.Channel;

namespace DistRnn.Tests.Cluster;

/// <summary>
/// The data channel beside Akka (Cluster/DataChannel): frames carry the Akka serializer's bytes; truncated,
/// oversized and garbage frames are refused; loopback connections with and without a secret and TLS carry
/// parameters and results bit for bit, and refuse a wrong secret, an unknown or reused ticket, a foreign CA,
/// and a peer that stalls.
/// </summary>
public sealed class DataChannelTests
{
    private const int ModelValues = 1000;
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);

    private static float[] Values(int n, int seed)
    {
        var r = new Random(seed);
        var v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float)(r.NextDouble() * 2 - 1) * MathF.Pow(10, r.Next(-30, 30));
        v[0] = float.NaN; v[1] = -0f; v[2] = float.Epsilon;
        return v;
    }

    private static ComputeSubtrees Job(float[] p) => new("run-1", 42, [new Subtree(2, 1), new Subtree(0, 7)], TensorPayload.Wrap(p));
    private static SubtreeResult Result(float[] g) => new("run-1", 42, new Subtree(2, 1), 12.5, 256, TensorPayload.Wrap(g));

    private static byte[] AkkaBytes(object msg)
    {
        var counter = new WireWriter(null);
        ProtocolSerializer.Write(msg, ref counter);
        var bytes = new byte[counter.Length];
        var w = new WireWriter(bytes);
        ProtocolSerializer.Write(msg, ref w);
        return bytes;
    }

    private static byte[] BytesOf(TensorPayload t)
    {
        var b = new byte[t.ByteLength];
        t.WriteTo(b);
        return b;
    }

    // ---- framing ----

    [Fact]
    public void A_frame_holds_exactly_the_bytes_the_Akka_path_carries_and_decodes_to_the_same_bits()
    {
        var pool = ArrayPool<byte>.Create();
        var p = Values(ModelValues, 1);
        foreach (object msg in new object[] { Job(p), Result(p) })
        {
            var (buffer, length) = DataFrame.Encode(msg, pool);
            var akka = AkkaBytes(msg);
            Assert.Equal(DataFrame.HeaderBytes + akka.Length, length);
            Assert.True(buffer.AsSpan(DataFrame.HeaderBytes, akka.Length).SequenceEqual(akka));
            var (bodyLength, code) = DataFrame.Header(buffer, DataFrame.MaxBodyBytes(ModelValues), [DataFrame.ComputeCode, DataFrame.ResultCode]);
            var decoded = DataFrame.Decode(code, buffer[DataFrame.HeaderBytes..length], bodyLength, new WireLimits(ModelValues));
            var tensor = decoded switch { ComputeSubtrees c => c.Parameters, SubtreeResult r => r.Gradient, _ => throw new Xunit.Sdk.XunitException("wrong type") };
            Assert.Equal(MemoryMarshal.AsBytes(p.AsSpan()).ToArray(), BytesOf(tensor));
            Assert.Equal(msg.GetType(), decoded.GetType());
        }
    }

    [Fact]
    public void A_frame_in_two_parts_has_the_same_bytes_with_the_values_straight_from_the_senders_array()
    {
        var pool = ArrayPool<byte>.Create();
        var p = Values(ModelValues, 3);
        var d = p.Select(x => (double)x).ToArray();
        var fromWire = TensorPayload.FromWire(DistRnn.Model.Precision.Float32, p.Length, AkkaBytes(Result(p)).AsMemory()[^(p.Length * 4)..]);
        object[] messages =
        [
            Job(p), Result(p),
            new ComputeSubtrees("run-1", 7, [new Subtree(1, 0)], TensorPayload.Wrap(d)),
            new SubtreeResult("run-1", 7, new Subtree(1, 0), 3.5, 64, TensorPayload.Wrap(d)),
            new SubtreeResult("run-1", 7, new Subtree(1, 0), 3.5, 64, fromWire), // read from the wire: no array to send from
        ];
        foreach (var msg in messages)
        {
            var (whole, length) = DataFrame.Encode(msg, pool);
            var (head, headLength, values) = DataFrame.EncodeParts(msg, pool);
            var joined = head.AsSpan(0, headLength).ToArray().Concat(values.ToArray()).ToArray();
            Assert.Equal(whole.AsSpan(0, length).ToArray(), joined);
            bool fromArray = msg is not SubtreeResult { Gradient: var g } || !ReferenceEquals(g, fromWire);
            Assert.Equal(fromArray, !values.IsEmpty);
            if (fromArray) Assert.True(headLength < 100, $"{msg.GetType().Name}: the values were copied into the frame ({headLength} bytes)");
            pool.Return(whole);
            pool.Return(head);
        }
    }

    [Fact]
    public void Nothing_may_follow_a_tensor_whose_values_are_sent_apart()
    {
        var w = new WireWriter(new byte[64], 0, deferTensorValues: true);
        w.Tensor(TensorPayload.Wrap(new float[4]));
        Assert.NotNull(w.Deferred);
        Assert.Throws<InvalidOperationException>(() => { var copy = w; copy.Int(1); });
    }

    [Fact]
    public void The_offer_survives_the_serializer()
    {
        var ticket = DataTicket.New();
        var offer = new DataChannelOffer("run-9", 40123, ticket.Id, ticket.Key);
        var back = Assert.IsType<DataChannelOffer>(ProtocolSerializer.Read(AkkaBytes(offer), "D", new WireLimits(10)));
        Assert.Equal(("run-9", 40123), (back.RunId, back.Port));
        Assert.Equal(ticket.Id, back.TicketId);
        Assert.Equal(ticket.Key, back.TicketKey);
    }

    [Fact]
    public void Oversized_empty_and_unexpected_headers_are_refused_before_any_body_is_read()
    {
        int max = DataFrame.MaxBodyBytes(ModelValues);
        byte[] Header(int length, byte code)
        {
            var h = new byte[DataFrame.HeaderBytes];
            BinaryPrimitives.WriteInt32LittleEndian(h, length);
            h[4] = code;
            return h;
        }
        Assert.Throws<ProtocolException>(() => DataFrame.Header(Header(max + 1, DataFrame.ResultCode), max, [DataFrame.ResultCode]));
        Assert.Throws<ProtocolException>(() => DataFrame.Header(Header(int.MaxValue, DataFrame.ResultCode), max, [DataFrame.ResultCode]));
        Assert.Throws<ProtocolException>(() => DataFrame.Header(Header(-5, DataFrame.ResultCode), max, [DataFrame.ResultCode]));
        Assert.Throws<ProtocolException>(() => DataFrame.Header(Header(0, DataFrame.ResultCode), max, [DataFrame.ResultCode]));
        // a worker may not send parameters, nor the coordinator results
        Assert.Throws<ProtocolException>(() => DataFrame.Header(Header(100, DataFrame.ComputeCode), max, [DataFrame.ResultCode]));
        Assert.Throws<ProtocolException>(() => DataFrame.Header(Header(100, 77), max, [DataFrame.ResultCode, DataFrame.ComputeCode]));
        Assert.Equal((100, DataFrame.ResultCode), DataFrame.Header(Header(100, DataFrame.ResultCode), max, [DataFrame.ResultCode]));
    }

    [Fact]
    public void Truncated_padded_garbage_and_larger_than_model_bodies_are_refused()
    {
        var body = AkkaBytes(Result(Values(ModelValues, 2)));
        var limits = new WireLimits(ModelValues);
        for (int cut = 0; cut < body.Length; cut += Math.Max(1, body.Length / 50))
            Assert.Throws<ProtocolException>(() => DataFrame.Decode(DataFrame.ResultCode, body, cut, limits));
        var padded = body.Concat(new byte[3]).ToArray();
        Assert.Throws<ProtocolException>(() => DataFrame.Decode(DataFrame.ResultCode, padded, padded.Length, limits));
        // the same gradient is one value too many for a smaller model
        Assert.Throws<ProtocolException>(() => DataFrame.Decode(DataFrame.ResultCode, body, body.Length, new WireLimits(ModelValues - 1)));
        var random = new Random(3);
        for (int i = 0; i < 200; i++)
        {
            var garbage = new byte[random.Next(1, 256)];
            random.NextBytes(garbage);
            try { DataFrame.Decode(DataFrame.ResultCode, garbage, garbage.Length, limits); }
            catch (ProtocolException) { }
        }
    }

    // ---- connections ----

    private static async Task<(Stream A, Stream B)> SocketPair()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        try
        {
            var client = new TcpClient();
            var accept = listener.AcceptTcpClientAsync();
            await client.ConnectAsync(IPAddress.Loopback, ((IPEndPoint)listener.LocalEndpoint).Port);
            var server = await accept.WaitAsync(Bound);
            return (client.GetStream(), server.GetStream());
        }
        finally { listener.Stop(); }
    }

    private sealed class Probe
    {
        public readonly TaskCompletionSource<string> Closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public readonly BlockingCollection<DataDelivery> Got = new();
        public void Deliver(DataDelivery d) => Got.Add(d);
        public void Close(string why) => Closed.TrySetResult(why);
    }

    private static DataConnection Receiver(Stream s, Probe p, DataChannelLimits? limits = null)
    {
        limits ??= new DataChannelLimits(ModelValues, BodyTimeout: TimeSpan.FromMilliseconds(500));
        var c = new DataConnection(s, limits, limits.NewPool(), [DataFrame.ResultCode], p.Deliver, p.Close);
        c.Start();
        return c;
    }

    [Fact]
    public async Task A_connection_closes_on_an_oversized_frame_without_reading_it()
    {
        var (a, b) = await SocketPair();
        var probe = new Probe();
        using var receiver = Receiver(b, probe);
        var header = new byte[DataFrame.HeaderBytes];
        BinaryPrimitives.WriteInt32LittleEndian(header, DataFrame.MaxBodyBytes(ModelValues) + 1);
        header[4] = DataFrame.ResultCode;
        await a.WriteAsync(header);
        Assert.Contains("malformed frame", await probe.Closed.Task.WaitAsync(Bound));
        Assert.False(receiver.IsOpen);
        Assert.Empty(probe.Got);
        a.Dispose();
    }

    [Fact]
    public async Task A_connection_closes_on_a_garbage_body_and_on_a_truncated_frame()
    {
        var (a, b) = await SocketPair();
        var probe = new Probe();
        using (Receiver(b, probe))
        {
            var header = new byte[DataFrame.HeaderBytes];
            BinaryPrimitives.WriteInt32LittleEndian(header, 64);
            header[4] = DataFrame.ResultCode;
            await a.WriteAsync(header);
            await a.WriteAsync(Enumerable.Repeat((byte)0xEE, 64).ToArray());
            Assert.Contains("malformed frame", await probe.Closed.Task.WaitAsync(Bound));
        }
        a.Dispose();

        (a, b) = await SocketPair();
        probe = new Probe();
        using (Receiver(b, probe))
        {
            var (frame, length) = DataFrame.Encode(Result(Values(ModelValues, 4)), ArrayPool<byte>.Shared);
            await a.WriteAsync(frame.AsMemory(0, length / 2));
            a.Dispose(); // the peer goes away inside the frame
            Assert.Contains("inside a frame", await probe.Closed.Task.WaitAsync(Bound));
            Assert.Empty(probe.Got);
        }
    }

    [Fact]
    public async Task A_peer_that_stalls_inside_a_frame_breaks_the_connection_within_the_bound()
    {
        var (a, b) = await SocketPair();
        var probe = new Probe();
        using var receiver = Receiver(b, probe); // body timeout 0.5 s
        var (frame, length) = DataFrame.Encode(Result(Values(ModelValues, 5)), ArrayPool<byte>.Shared);
        await a.WriteAsync(frame.AsMemory(0, length - 10)); // ... and never the rest
        Assert.Contains("did not arrive within", await probe.Closed.Task.WaitAsync(Bound));
        a.Dispose();
    }

    [Fact]
    public async Task A_connection_carries_frames_in_order_and_releases_their_buffers()
    {
        var (a, b) = await SocketPair();
        var probe = new Probe();
        var limits = new DataChannelLimits(ModelValues);
        using var receiver = Receiver(b, probe, limits);
        var sink = new Probe();
        using var sender = new DataConnection(a, limits, limits.NewPool(), [], sink.Deliver, sink.Close);
        sender.Start();
        var sent = Enumerable.Range(0, 20).Select(i => Values(ModelValues, 100 + i)).ToList();
        foreach (var g in sent) Assert.True(sender.TrySend(Result(g)));
        foreach (var g in sent)
        {
            Assert.True(probe.Got.TryTake(out var d, Bound));
            var r = Assert.IsType<SubtreeResult>(d.Message);
            Assert.Equal(MemoryMarshal.AsBytes(g.AsSpan()).ToArray(), BytesOf(r.Gradient));
            d.Release();
            d.Release(); // twice is harmless
        }
        sender.Dispose();
        Assert.False(sender.TrySend(Result(sent[0])));
        Assert.Contains("closed", await probe.Closed.Task.WaitAsync(Bound));
    }

    // ---- loopback: the coordinator's server and a worker's client ----

    private sealed class Loopback : IDisposable
    {
        public readonly ConcurrentQueue<string> Log = new();
        public readonly BlockingCollection<(string Worker, DataDelivery D)> Results = new();
        public readonly ConcurrentQueue<(string Worker, string Why)> Lost = new();
        public readonly DataChannelServer<string> Server;
        public readonly DataChannelLimits Limits;

        /// <param name="signLoopback">sign frames here as beyond loopback (<see cref="DataChannelLimits.SignsFrames"/>), so that the MACs are tested</param>
        public Loopback(NodeSecurity security, bool signLoopback = true)
        {
            Limits = new(ModelValues, HandshakeTimeout: TimeSpan.FromSeconds(5), SignLoopback: signLoopback);
            Server = new DataChannelServer<string>([IPAddress.Loopback], Limits, security,
                (w, d) => Results.Add((w, d)), (w, why) => Lost.Enqueue((w, why)), Log.Enqueue);
        }

        public async Task<DataConnection> Connect(DataTicket ticket, string address, NodeSecurity security, Probe probe)
        {
            var c = await DataChannelClient.ConnectAsync("127.0.0.1", Server.Port, ticket, address, Limits, security, probe.Deliver, probe.Close);
            c.Start();
            return c;
        }

        /// <summary>The server logs a refusal after the client has seen it: wait for the line (bounded).</summary>
        public async Task<bool> Logged(Func<string, bool> line)
        {
            for (var w = System.Diagnostics.Stopwatch.StartNew(); !Log.Any(line) && w.Elapsed < Bound;) await Task.Delay(10);
            return Log.Any(line);
        }

        public void Dispose() => Server.Dispose();
    }

    private static async Task RoundTrip(Loopback loop, DataConnection client, Probe probe, string worker, int seed)
    {
        for (var w = System.Diagnostics.Stopwatch.StartNew(); !loop.Server.HasConnection(worker) && w.Elapsed < Bound;) await Task.Delay(10);
        var p = Values(ModelValues, seed);
        Assert.True(loop.Server.TrySend(worker, Job(p)));
        Assert.True(probe.Got.TryTake(out var job, Bound));
        var c = Assert.IsType<ComputeSubtrees>(job.Message);
        Assert.Equal(MemoryMarshal.AsBytes(p.AsSpan()).ToArray(), BytesOf(c.Parameters));
        job.Release();
        Assert.True(client.TrySend(Result(p)));
        Assert.True(loop.Results.TryTake(out var result, Bound));
        Assert.Equal(worker, result.Worker);
        Assert.Equal(MemoryMarshal.AsBytes(p.AsSpan()).ToArray(), BytesOf(((SubtreeResult)result.D.Message).Gradient));
        result.D.Release();
    }

    [Theory]
    [InlineData(false, true)]
    [InlineData(true, true)]
    [InlineData(true, false)]
    public async Task A_worker_with_its_ticket_exchanges_parameters_and_results_bit_for_bit(bool withSecret, bool signLoopback)
    {
        var security = withSecret ? new NodeSecurity(SharedSecret.FromBytes("0123456789abcdef0123"u8), null) : NodeSecurity.None;
        using var loop = new Loopback(security, signLoopback);
        var ticket = loop.Server.Issue("w1", "akka.tcp://distrnn@127.0.0.1:1111");
        var probe = new Probe();
        using var client = await loop.Connect(ticket, "akka.tcp://distrnn@127.0.0.1:1111", security, probe);
        // a secret, no TLS and beyond loopback (here: as if): every frame carries a MAC; over loopback none
        Assert.Equal(withSecret && signLoopback, client.SignsFrames);
        await RoundTrip(loop, client, probe, "w1", 7);
        Assert.Equal(1, loop.Server.Accepted);

        // a broken connection is reported as the worker's, once
        client.Dispose();
        for (var w = System.Diagnostics.Stopwatch.StartNew(); loop.Lost.IsEmpty && w.Elapsed < Bound;) await Task.Delay(10);
        Assert.Equal("w1", Assert.Single(loop.Lost).Worker);
        Assert.False(loop.Server.TrySend("w1", Job(Values(ModelValues, 8))));
    }

    [Fact]
    public async Task A_wrong_secret_an_unknown_ticket_a_reused_ticket_or_another_address_is_refused()
    {
        var secret = new NodeSecurity(SharedSecret.FromBytes("the-run's-secret-0123"u8), null);
        using var loop = new Loopback(secret);
        const string address = "akka.tcp://distrnn@127.0.0.1:2222";

        var ticket = loop.Server.Issue("w1", address);
        var wrong = new NodeSecurity(SharedSecret.FromBytes("another-secret-456789"u8), null);
        await Assert.ThrowsAsync<ProtocolException>(() => loop.Connect(ticket, address, wrong, new Probe()));
        await Assert.ThrowsAsync<ProtocolException>(() => loop.Connect(ticket, address, secret, new Probe())); // spent by the failed try

        await Assert.ThrowsAsync<ProtocolException>(() => loop.Connect(DataTicket.New(), address, secret, new Probe()));

        ticket = loop.Server.Issue("w1", address);
        await Assert.ThrowsAsync<ProtocolException>(() => loop.Connect(ticket, "akka.tcp://distrnn@127.0.0.1:3333", secret, new Probe()));

        // a worker without the secret at all
        ticket = loop.Server.Issue("w1", address);
        await Assert.ThrowsAsync<ProtocolException>(() => loop.Connect(ticket, address, NodeSecurity.None, new Probe()));

        ticket = loop.Server.Issue("w1", address);
        var probe = new Probe();
        using var client = await loop.Connect(ticket, address, secret, probe);
        await RoundTrip(loop, client, probe, "w1", 9);
        await Assert.ThrowsAsync<ProtocolException>(() => loop.Connect(ticket, address, secret, new Probe())); // a ticket works once
        Assert.Equal(1, loop.Server.Accepted);
        Assert.True(await loop.Logged(l => l.Contains("data channel: refused") && l.Contains("wrong proof")));
        Assert.True(await loop.Logged(l => l.Contains("unknown or already used ticket")));
    }

    [Fact]
    public async Task A_stranger_that_says_nothing_is_dropped_after_the_handshake_timeout()
    {
        using var loop = new Loopback(NodeSecurity.None);
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, loop.Server.Port);
        var stream = client.GetStream();
        var buffer = new byte[64];
        // hello (magic + nonce), then nothing from us: the server must hang up within the handshake bound
        int total = 0;
        using var cts = new CancellationTokenSource(Bound);
        while (true)
        {
            int n = await stream.ReadAsync(buffer, cts.Token);
            if (n == 0) break;
            total += n;
        }
        Assert.Equal(4 + ChannelHandshake.NonceBytes, total);
        Assert.True(await loop.Logged(l => l.Contains("handshake timed out")));
    }

    [Fact]
    public async Task Over_mutual_TLS_with_the_runs_CA_it_works_and_a_node_of_another_CA_is_refused()
    {
        var dir = TestUtil.TempDir();
        var ca = new TestCertificates(dir);
        var other = new TestCertificates(dir, "Another CA");
        using var coordinatorTls = TlsCredentials.FromOptions(ca.Node("coordinator"), ca.CaPath, TestCertificates.Password)!;
        using var workerTls = TlsCredentials.FromOptions(ca.Node("worker"), ca.CaPath, TestCertificates.Password)!;
        using var strangerTls = TlsCredentials.FromOptions(other.Node("stranger"), other.CaPath, TestCertificates.Password)!;
        var secret = SharedSecret.FromBytes("tls-and-secret-0123456"u8);
        using var loop = new Loopback(new NodeSecurity(secret, coordinatorTls));
        const string address = "akka.ssl.tcp://distrnn@127.0.0.1:4444";

        var ticket = loop.Server.Issue("w1", address);
        await Assert.ThrowsAnyAsync<Exception>(() => loop.Connect(ticket, address, new NodeSecurity(secret, strangerTls), new Probe()));
        ticket = loop.Server.Issue("w1", address);
        await Assert.ThrowsAnyAsync<Exception>(() => loop.Connect(ticket, address, new NodeSecurity(secret, null), new Probe())); // plain TCP
        Assert.Equal(0, loop.Server.Accepted);

        ticket = loop.Server.Issue("w1", address);
        var probe = new Probe();
        using var client = await loop.Connect(ticket, address, new NodeSecurity(secret, workerTls), probe);
        Assert.False(client.SignsFrames); // TLS protects the frames itself
        await RoundTrip(loop, client, probe, "w1", 11);
        Assert.True(await loop.Logged(l => l.Contains("data channel: refused a connection"))); // the stranger and the plain-TCP node
    }

    // ---- frame MACs (a secret and no TLS) ----

    [Fact]
    public async Task A_frame_altered_replayed_or_unsigned_is_refused_before_it_is_handed_on()
    {
        var keys = new FrameKeys(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32), System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
        var peer = new FrameKeys(keys.Receive, keys.Send);
        var limits = new DataChannelLimits(ModelValues, BodyTimeout: TimeSpan.FromMilliseconds(500));
        var g = Values(ModelValues, 21);
        var (frame, length) = DataFrame.Encode(Result(g), ArrayPool<byte>.Shared);
        var wire = frame.AsSpan(0, length).ToArray();
        byte[] Signed(FrameMac mac, byte[] bytes) { var tag = new byte[FrameMac.TagBytes]; mac.Sign(bytes, [], tag); return [.. bytes, .. tag]; }

        // signed with the peer's key: handed on, bit for bit; the same bytes and tag again (a replay) are refused
        var (a, b) = await SocketPair();
        var probe = new Probe();
        using (var receiver = new DataConnection(b, limits, limits.NewPool(), [DataFrame.ResultCode], probe.Deliver, probe.Close, keys: keys))
        {
            receiver.Start();
            var first = Signed(new FrameMac(peer.Send), wire);
            await a.WriteAsync(first);
            Assert.True(probe.Got.TryTake(out var d, Bound));
            Assert.Equal(MemoryMarshal.AsBytes(g.AsSpan()).ToArray(), BytesOf(((SubtreeResult)d.Message).Gradient));
            d.Release();
            await a.WriteAsync(first);
            Assert.Contains("MAC check", await probe.Closed.Task.WaitAsync(Bound));
            Assert.Empty(probe.Got);
        }
        a.Dispose();

        // one bit of a tensor value flipped on the way, a frame signed with another key, a frame with no MAC at all
        foreach (var (what, bytes) in new (string, byte[])[]
        {
            ("altered", Flip(Signed(new FrameMac(peer.Send), wire), length - 7)),
            ("another key", Signed(new FrameMac(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)), wire)),
            ("unsigned", [.. wire, .. wire.AsSpan(0, FrameMac.TagBytes).ToArray()]),
        })
        {
            (a, b) = await SocketPair();
            probe = new Probe();
            using (var receiver = new DataConnection(b, limits, limits.NewPool(), [DataFrame.ResultCode], probe.Deliver, probe.Close, keys: keys))
            {
                receiver.Start();
                await a.WriteAsync(bytes);
                Assert.Contains("MAC check", await probe.Closed.Task.WaitAsync(Bound));
                Assert.True(probe.Got.Count == 0, what);
            }
            a.Dispose();
        }

        static byte[] Flip(byte[] bytes, int at) { bytes[at] ^= 0x10; return bytes; }
    }

    [Fact]
    public async Task With_a_secret_a_byte_changed_on_the_path_after_the_handshake_closes_the_channel_and_nothing_is_handed_on()
    {
        // an on-path relay between the worker and the coordinator's data channel: it passes the handshake as it is, then
        // flips one byte inside the first frame to the worker (a tensor value), as an attacker without the secret could
        var security = new NodeSecurity(SharedSecret.FromBytes("on-the-path-secret-0123"u8), null);
        using var loop = new Loopback(security);
        const string address = "akka.tcp://distrnn@127.0.0.1:5555";
        var relay = new TcpListener(IPAddress.Loopback, 0);
        relay.Start();
        int toWorker = 4 + ChannelHandshake.NonceBytes + 1 + ChannelHandshake.ProofBytes; // hello, then the answer
        var relaying = Task.Run(async () =>
        {
            using var worker = await relay.AcceptTcpClientAsync();
            using var coordinator = new TcpClient();
            await coordinator.ConnectAsync(IPAddress.Loopback, loop.Server.Port);
            var up = Pump(worker.GetStream(), coordinator.GetStream(), flipAt: -1);
            var down = Pump(coordinator.GetStream(), worker.GetStream(), flipAt: toWorker + DataFrame.HeaderBytes + 200);
            await Task.WhenAny(up, down);
        });
        try
        {
            var ticket = loop.Server.Issue("w1", address);
            var probe = new Probe();
            using var client = await DataChannelClient.ConnectAsync("127.0.0.1", ((IPEndPoint)relay.LocalEndpoint).Port, ticket, address, loop.Limits, security, probe.Deliver, probe.Close);
            client.Start();
            Assert.True(client.SignsFrames);
            for (var w = System.Diagnostics.Stopwatch.StartNew(); !loop.Server.HasConnection("w1") && w.Elapsed < Bound;) await Task.Delay(10);
            Assert.True(loop.Server.TrySend("w1", Job(Values(ModelValues, 31))));
            Assert.Contains("MAC check", await probe.Closed.Task.WaitAsync(Bound));
            Assert.Empty(probe.Got);
        }
        finally { relay.Stop(); }
        await relaying.WaitAsync(Bound);

        static async Task Pump(Stream from, Stream to, long flipAt)
        {
            var buffer = new byte[8192];
            long passed = 0;
            try
            {
                while (await from.ReadAsync(buffer) is var n && n > 0)
                {
                    if (flipAt >= passed && flipAt < passed + n) buffer[flipAt - passed] ^= 0x01;
                    passed += n;
                    await to.WriteAsync(buffer.AsMemory(0, n));
                }
            }
            catch (IOException) { }
            catch (ObjectDisposedException) { }
        }
    }
}
