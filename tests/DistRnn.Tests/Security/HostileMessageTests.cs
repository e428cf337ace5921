using System.Runtime.Serialization;
using Akka.Actor;
using Akka.Configuration;
using Akka.Serialization;
using DistRnn.Protocol;
using DistRnn.Reduction;
using DistRnn.Transport;
using DistRnn.Util;
using Xunit.Abstractions;

namespace DistRnn.Tests.Security;

/// <summary>
/// The deserializer under hostile input: thousands of random, truncated and mutated frames either decode to a
/// message of the right type (a mutation can still be well-formed) or raise a SerializationException — never
/// another exception, and never an allocation beyond a small multiple of the frame; lengths beyond the
/// configured model size are refused. Over a real transport, a garbage frame is dropped and the association lives on.
/// </summary>
public class HostileMessageTests(ITestOutputHelper output)
{
    private const int ModelValues = 1000;
    private static readonly WireLimits Limits = new(ModelValues);

    private static readonly string[] Manifests = ["J", "S", "R", "OK", "NO", "C", "G", "E", "L"];

    private static IEnumerable<object> Samples()
    {
        var rng = new Rng(5);
        float[] F(int n) => Enumerable.Range(0, n).Select(_ => (float)rng.NextDouble()).ToArray();
        double[] D(int n) => Enumerable.Range(0, n).Select(_ => rng.NextDouble()).ToArray();
        yield return new JoinRequest(ProtocolInfo.Version, "node-1", 4, new byte[32]);
        yield return new JoinRequest(ProtocolInfo.Version, "node-1", 4);
        yield return new RunSpec(ProtocolInfo.Version, "run", "{\"hidden\":8}", "abc", "corpus.txt", 65, new byte[32], new byte[32]);
        yield return new Register(ProtocolInfo.Version, "run", "node-1", "abc", "fp", 65, 2, new byte[32]);
        yield return new Registered("run", 3);
        yield return new Refused("because");
        yield return new ComputeSubtrees("run", 12, [new Subtree(1, 0), new Subtree(0, 3)], TensorPayload.Wrap(F(ModelValues)));
        yield return new SubtreeResult("run", 12, new Subtree(2, 1), 3.5, 640, TensorPayload.Wrap(D(ModelValues)));
        yield return new SubtreeResult("run", 12, new Subtree(0, 0), 0, 64, TensorPayload.Wrap(F(17)));
        yield return new RunEnded(true, "done");
        yield return new WorkerLeaving("bye");
    }

    /// <summary>The protocol serializer's binding alone (any provider).</summary>
    internal static Config Bindings() => ConfigurationFactory.ParseString($$"""
        akka.actor {
          serializers { distrnn = "{{AkkaConfig.ProtocolSerializerType}}" }
          serialization-bindings { "{{AkkaConfig.ProtocolMarkerType}}" = distrnn }
          serialization-identifiers { "{{AkkaConfig.ProtocolSerializerType}}" = {{ProtocolSerializer.Id}} }
        }
        """);

    private static ProtocolSerializer Serializer(ActorSystem system) =>
        (ProtocolSerializer)((ExtendedActorSystem)system).Serialization.FindSerializerForType(typeof(JoinRequest));

    private static ActorSystem SerializationSystem(int maxValues) => ActorSystem.Create("hostile", ConfigurationFactory.ParseString(
        $"{ProtocolSerializer.MaxTensorValuesPath} = {maxValues}").WithFallback(Bindings()));

    [Fact]
    public void Security_fields_survive_the_round_trip()
    {
        using var system = SerializationSystem(ModelValues);
        var s = Serializer(system);
        var nonce = Enumerable.Range(0, 32).Select(i => (byte)i).ToArray();
        var j = (JoinRequest)s.FromBinary(s.ToBinary(new JoinRequest(2, "n", 1, nonce)), s.Manifest(new JoinRequest(2, "n", 1)));
        Assert.Equal(nonce, j.Nonce);
        var spec = (RunSpec)s.FromBinary(s.ToBinary(new RunSpec(2, "r", "{}", "sha", "c", 5, nonce, nonce.Reverse().ToArray())), "S");
        Assert.Equal(nonce, spec.Challenge);
        Assert.Equal(nonce.Reverse(), spec.CoordinatorProof);
        var reg = (Register)s.FromBinary(s.ToBinary(new Register(2, "r", "n", "sha", "fp", 5, 1, nonce)), "R");
        Assert.Equal(nonce, reg.Proof);
        var open = (Register)s.FromBinary(s.ToBinary(new Register(2, "r", "n", "sha", "fp", 5, 1)), "R");
        Assert.Empty(open.Proof!);
    }

    [Fact]
    public void Lengths_beyond_the_configured_model_size_are_refused_before_allocating()
    {
        using var system = SerializationSystem(ModelValues);
        var s = Serializer(system);
        Assert.Equal(ModelValues, s.Limits.MaxTensorValues);
        var ok = new SubtreeResult("run", 1, new Subtree(0, 0), 1, 1, TensorPayload.Wrap(new float[ModelValues]));
        Assert.IsType<SubtreeResult>(s.FromBinary(s.ToBinary(ok), "G"));
        var tooBig = new SubtreeResult("run", 1, new Subtree(0, 0), 1, 1, TensorPayload.Wrap(new float[ModelValues + 1]));
        var e = Assert.Throws<SerializationException>(() => s.FromBinary(s.ToBinary(tooBig), "G"));
        Assert.Contains("exceeds the configured model size", e.Message);

        var longString = new Refused(new string('x', WireLimits.DefaultMaxStringBytes + 1));
        Assert.Throws<SerializationException>(() => s.FromBinary(s.ToBinary(longString), "NO"));
        var longNonce = new JoinRequest(2, "n", 1, new byte[WireLimits.DefaultMaxBytesField + 1]);
        Assert.Throws<SerializationException>(() => s.FromBinary(s.ToBinary(longNonce), "J"));
        Assert.Throws<SerializationException>(() => s.FromBinary([], "nonsense"));
        Assert.Throws<SerializationException>(() => s.FromBinary([], "G"));
    }

    [Fact]
    public void Thousands_of_random_and_mutated_frames_raise_only_serialization_errors()
    {
        using var system = SerializationSystem(ModelValues);
        var s = Serializer(system);
        var rng = new Rng(20261126);
        var frames = Samples().Select(m => (Bytes: s.ToBinary(m), Manifest: s.Manifest(m), Type: m.GetType())).ToList();
        int decoded = 0, refused = 0, total = 0;

        void Feed(byte[] bytes, string manifest, Type? expected)
        {
            total++;
            long before = GC.GetAllocatedBytesForCurrentThread();
            try
            {
                var msg = s.FromBinary(bytes, manifest);
                if (expected is not null) Assert.IsType(expected, msg);
                decoded++;
            }
            catch (SerializationException) { refused++; }
            // tensors stay slices of the frame; strings are at most 2 bytes a byte: nothing grows with a forged length
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            Assert.True(allocated <= 4L * bytes.Length + 64 * 1024, $"{allocated} bytes allocated for a {bytes.Length}-byte frame '{manifest}'");
        }

        foreach (var (bytes, manifest, type) in frames)
        {
            // every truncation
            for (int n = 0; n < bytes.Length; n += bytes.Length > 512 ? 37 : 1) Feed(bytes[..n], manifest, type);
            // bytes appended
            Feed([.. bytes, 0], manifest, type);
            Feed([.. bytes, .. Random(rng, 1 + (int)rng.NextLong(64))], manifest, type);
            for (int i = 0; i < 400; i++)
            {
                var m = (byte[])bytes.Clone();
                int kind = (int)rng.NextLong(3);
                if (kind == 0) // flip a few random bits
                    for (int k = 0, n = 1 + (int)rng.NextLong(8); k < n; k++) m[rng.NextLong(m.Length)] ^= (byte)(1 << (int)rng.NextLong(8));
                else if (kind == 1 && m.Length >= 4) // forge a length (or any int) at a random offset
                {
                    int at = (int)rng.NextLong(m.Length - 3);
                    int[] evil = [int.MaxValue, int.MinValue, -1, 0, 1 << 30, ModelValues + 1, m.Length, 0x7fff_fff0];
                    BitConverter.TryWriteBytes(m.AsSpan(at), evil[rng.NextLong(evil.Length)]);
                }
                else // overwrite a random run with random bytes
                {
                    int at = (int)rng.NextLong(m.Length), len = Math.Min(m.Length - at, 1 + (int)rng.NextLong(16));
                    Random(rng, len).CopyTo(m, at);
                }
                Feed(m, manifest, type);
            }
            // a valid frame read under another message's manifest
            foreach (var other in Manifests) Feed(bytes, other, null);
        }
        // plain noise, with valid and invalid manifests
        for (int i = 0; i < 3000; i++)
        {
            var noise = Random(rng, (int)rng.NextLong(i % 10 == 0 ? 5000 : 80));
            Feed(noise, i % 7 == 0 ? "X" + i : Manifests[rng.NextLong(Manifests.Length)], null);
        }
        output.WriteLine($"{total} frames: {decoded} decoded to a well-formed message, {refused} refused with a SerializationException");
        Assert.True(total > 5000);
        Assert.True(refused > total / 2);
    }

    private static byte[] Random(Rng rng, int n)
    {
        var b = new byte[n];
        for (int i = 0; i < n; i++) b[i] = (byte)rng.NextLong(256);
        return b;
    }

    // ---- over a real transport ----

    /// <summary>Marker for the garbage the rogue node sends.</summary>
    public sealed record Garbage(int Seed);

    /// <summary>The rogue node's "serializer": claims the protocol's id and the result manifest, writes noise.</summary>
    public sealed class GarbageSerializer(ExtendedActorSystem system) : SerializerWithStringManifest(system)
    {
        public override int Identifier => ProtocolSerializer.Id;
        public override string Manifest(object o) => ((Garbage)o).Seed % 3 == 0 ? "G" : ((Garbage)o).Seed % 3 == 1 ? "C" : "J";
        public override byte[] ToBinary(object obj)
        {
            var rng = new Rng((ulong)((Garbage)obj).Seed);
            var b = new byte[(int)rng.NextLong(3000)];
            for (int i = 0; i < b.Length; i++) b[i] = (byte)rng.NextLong(256);
            if (b.Length >= 8) BitConverter.TryWriteBytes(b.AsSpan(4), int.MaxValue); // a forged length near the start
            return b;
        }
        public override object FromBinary(byte[] bytes, string manifest) => throw new SerializationException("send-only");
    }

    private sealed class Counter : ReceiveActor
    {
        private int _protocol;
        public Counter()
        {
            Receive<IProtocolMessage>(_ => _protocol++);
            Receive<string>(s => Sender.Tell($"{s}:{_protocol}"));
        }
    }

    [Fact]
    public async Task Garbage_frames_over_the_transport_are_dropped_and_the_association_survives()
    {
        string remote(int port) => $"akka {{ loglevel = ERROR, stdout-loglevel = ERROR, actor.provider = remote, remote.dot-netty.tcp {{ hostname = 127.0.0.1, port = {port} }} }}";
        var receiverConfig = ConfigurationFactory.ParseString(remote(0)).WithFallback(Bindings());
        var senderConfig = ConfigurationFactory.ParseString(remote(0) + $$"""
            akka.actor {
              serializers { garbage = "{{typeof(GarbageSerializer).AssemblyQualifiedName}}" }
              serialization-bindings { "{{typeof(Garbage).AssemblyQualifiedName}}" = garbage }
            }
            """);
        using var receiver = ActorSystem.Create("distrnn", receiverConfig);
        using var sender = ActorSystem.Create("distrnn", senderConfig);
        try
        {
            receiver.ActorOf(Props.Create(() => new Counter()), "counter");
            var address = ((ExtendedActorSystem)receiver).Provider.DefaultAddress;
            var counter = await sender.ActorSelection(new RootActorPath(address) / "user" / "counter").ResolveOne(TimeSpan.FromSeconds(10));
            Assert.Equal("before:0", await counter.Ask<string>("before", TimeSpan.FromSeconds(10)));
            for (int i = 0; i < 300; i++) counter.Tell(new Garbage(i));
            Assert.Equal("after:0", await counter.Ask<string>("after", TimeSpan.FromSeconds(20)));
            Assert.False(receiver.WhenTerminated.IsCompleted);
        }
        finally
        {
            await Task.WhenAll(sender.Terminate(), receiver.Terminate()).WaitAsync(TimeSpan.FromSeconds(20));
        }
    }
}
