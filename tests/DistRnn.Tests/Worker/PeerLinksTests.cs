using System.Collections.Concurrent;
using DistRnn.Protocol;
using DistRnn.Reduction;
using DistRnn.Security;
using DistRnn.Transport.DataChannel;
using DistRnn.Worker.Channel;

namespace DistRnn.Tests.Worker;

/// <summary>
/// Peer links (the tree data plane's worker-to-worker data connections) on loopback: a chunk arrives with its bits;
/// a worker without the run's secret, or with another peer ticket, is refused (nothing it sends is delivered); a link
/// that breaks is reported with its endpoint, and until a new one is open the sender is told to use Akka.
/// </summary>
public sealed class PeerLinksTests
{
    private const int ModelValues = 10_000;
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    private sealed class Peer : IDisposable
    {
        public readonly ConcurrentQueue<object> Delivered = new();
        public readonly ConcurrentQueue<(string Endpoint, string Why)> Closed = new();
        public readonly ConcurrentQueue<string> Notes = new();
        public readonly PeerLinks Links;

        public Peer(SharedSecret? secret, DataTicket ticket)
        {
            Links = new PeerLinks("127.0.0.1", new NodeSecurity(secret, null),
                deliver: d =>
                {
                    // as the worker does: copy off the pooled frame, then release it
                    Delivered.Enqueue(d.Message is TreeSum s ? s with { Values = s.Values.Detached() } : d.Message);
                    d.Release();
                },
                closed: (e, why) => Closed.Enqueue((e, why)), note: Notes.Enqueue);
            Links.Configure(new DataChannelLimits(ModelValues, HandshakeTimeout: TimeSpan.FromSeconds(10)));
            Links.UseTicket(ticket);
        }

        public string Endpoint => $"127.0.0.1:{Links.Port}";
        public void Dispose() => Links.Dispose();
    }

    private static TreeSum Chunk(int n) =>
        new("run", 3, 1, new Subtree(1, 1), 0, 2.5, 17, TensorPayload.Wrap(Enumerable.Range(0, n).Select(i => (float)Math.Sin(i) * 1e-3f).ToArray()));

    /// <summary>Sends until the link takes the message (the first tries start it and say "use Akka"); false when the bound passes.</summary>
    private static async Task<bool> SendOverLink(Peer from, string to, object message)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (clock.Elapsed < Bound)
        {
            if (from.Links.TrySend(to, message)) return true;
            await Task.Delay(20);
        }
        return false;
    }

    private static async Task Until(Func<bool> condition, string what)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(clock.Elapsed < Bound, $"timed out waiting for {what}");
            await Task.Delay(20);
        }
    }

    [Fact]
    public async Task A_chunk_goes_over_the_link_with_its_bits()
    {
        var secret = SharedSecret.FromBytes(Enumerable.Range(0, 32).Select(i => (byte)i).ToArray());
        var ticket = DataTicket.New();
        using var a = new Peer(secret, ticket);
        using var b = new Peer(secret, ticket);
        var sent = Chunk(ModelValues);
        Assert.True(await SendOverLink(a, b.Endpoint, sent), string.Join("; ", a.Notes.Concat(b.Notes)));
        await Until(() => !b.Delivered.IsEmpty, "the chunk");
        var got = Assert.IsType<TreeSum>(Assert.Single(b.Delivered));
        Assert.Equal((sent.RunId, sent.Step, sent.Epoch, sent.Node, sent.Chunk, sent.Loss, sent.Chars), (got.RunId, got.Step, got.Epoch, got.Node, got.Chunk, got.Loss, got.Chars));
        Assert.Equal(sent.Values.ToArray<float>(), got.Values.ToArray<float>());
        Assert.True(a.Links.IsOpen(b.Endpoint));
    }

    [Fact]
    public async Task A_worker_without_the_secret_or_with_another_ticket_is_refused()
    {
        var secret = SharedSecret.FromBytes(Enumerable.Range(0, 32).Select(i => (byte)i).ToArray());
        var ticket = DataTicket.New();
        using var b = new Peer(secret, ticket);
        using var noSecret = new Peer(null, ticket);
        using var otherTicket = new Peer(secret, DataTicket.New());
        foreach (var stranger in new[] { noSecret, otherTicket })
        {
            Assert.False(stranger.Links.TrySend(b.Endpoint, Chunk(10))); // no link yet: it starts one
            await Until(() => !stranger.Notes.IsEmpty, "the refused connection's note");
            Assert.Contains(stranger.Notes, n => n.Contains("no peer link"));
            Assert.False(stranger.Links.IsOpen(b.Endpoint));
            Assert.False(stranger.Links.TrySend(b.Endpoint, Chunk(10))); // still none: over Akka
        }
        await Until(() => b.Notes.Count >= 2, "the receiver's refusals");
        Assert.All(b.Notes, n => Assert.StartsWith("refused a peer link", n));
        Assert.Empty(b.Delivered);
        Assert.Equal(0, b.Links.Received);
    }

    [Fact]
    public async Task A_broken_link_is_reported_with_its_endpoint_and_the_sender_falls_back()
    {
        var ticket = DataTicket.New();
        using var a = new Peer(null, ticket);
        using var b = new Peer(null, ticket);
        Assert.True(await SendOverLink(a, b.Endpoint, Chunk(100)));
        await Until(() => !b.Delivered.IsEmpty, "the first chunk");
        b.Links.BreakAll("a test breaks the link");
        await Until(() => !a.Closed.IsEmpty, "the sender hearing the break");
        Assert.Equal(b.Endpoint, Assert.Single(a.Closed).Endpoint);
        Assert.False(a.Links.TrySend(b.Endpoint, Chunk(100))); // within the retry pause: over Akka
        Assert.True(await SendOverLink(a, b.Endpoint, Chunk(100))); // then a new link
        await Until(() => b.Delivered.Count >= 2, "a chunk over the new link");
    }

    [Fact]
    public async Task A_frame_larger_than_the_model_breaks_the_link()
    {
        var ticket = DataTicket.New();
        using var a = new Peer(null, ticket);
        using var b = new Peer(null, ticket);
        Assert.True(await SendOverLink(a, b.Endpoint, Chunk(10)));
        await Until(() => !b.Delivered.IsEmpty, "the first chunk");
        Assert.True(a.Links.TrySend(b.Endpoint, Chunk(2 * ModelValues + DataFrame.OverheadBytes))); // more than the model's frame
        await Until(() => !a.Closed.IsEmpty, "the link breaking");
        Assert.Single(b.Delivered);
    }
}
