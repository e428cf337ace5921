using System.Runtime.Serialization;
using Akka.Serialization;
using DistRnn.Coordinator.Node;
using DistRnn.Model;
using DistRnn.Protocol;
using DistRnn.Reduction;
using DistRnn.Transport;

namespace DistRnn.Tests.Cluster;

public sealed class ProtocolSerializerTests : Akka.TestKit.Xunit2.TestKit
{
    public ProtocolSerializerTests() : base(AkkaConfig.SerializationOnly(serializeMessages: true)) { }

    private static readonly float[] Floats = [0f, -0f, 1.5f, float.Epsilon, -3.25e-20f, float.MaxValue, float.NaN, float.NegativeInfinity];
    private static readonly double[] Doubles = [0d, -0d, Math.PI, double.Epsilon, -1e300, double.NaN, double.PositiveInfinity];

    public static IEnumerable<object[]> Messages() =>
    [
        [new JoinRequest(ProtocolInfo.Version, "host/123@4567", 8)],
        [new RunSpec(ProtocolInfo.Version, "run-1", "{\"hidden\":16}", new string('a', 64), "corpus: ü ✓", 65)],
        [new Register(ProtocolInfo.Version, "run-1", "node-é", new string('b', 64), "{\"x\":1}", 65, 3)],
        [new Registered("run-1", 4)],
        [new Refused("corpus sha256 differs")],
        [new ComputeSubtrees("run-1", 42, [new Subtree(2, 1), new Subtree(0, 15)], TensorPayload.Wrap(Floats))],
        [new ComputeSubtrees("run-1", long.MaxValue, [], TensorPayload.Wrap(Doubles))],
        [new SubtreeResult("run-1", 7, new Subtree(3, 0), 123.456, 4096, TensorPayload.Wrap(Doubles))],
        [new SubtreeResult("r", 1, new Subtree(0, 0), double.NaN, 0, TensorPayload.Wrap(Array.Empty<float>()))],
        [new DataChannelOffer("run-1", 40513, [1, 2, 3, 4, 5, 6, 7, 8], Enumerable.Range(0, 32).Select(i => (byte)(255 - i)).ToArray())],
        [new RunEnded(true, "training finished")],
        [new WorkerLeaving("stopped by the user")],
        [new TreeStep("run-1", 9, 2, ["akka.tcp://distrnn@127.0.0.1:4053/user/worker#1", "akka.tcp://distrnn@127.0.0.1:4054/user/worker#2"],
            [[new Subtree(3, 0)], [new Subtree(2, 2), new Subtree(2, 3)]], 1)],
        [new TreeStep("run-1", 9, 3, ["a", "b"], [[new Subtree(1, 0)], [new Subtree(1, 1)]], 0, ["10.0.0.2:40001", ""],
            Enumerable.Range(0, 16).Select(i => (byte)i).ToArray(), Enumerable.Range(0, 32).Select(i => (byte)(7 * i)).ToArray())],
        [new Register(ProtocolInfo.Version, "run-1", "node-2", new string('b', 64), "{\"x\":1}", 65, 3, [9, 9], PeerPort: 40001)],
        [new TreeParameters("run-1", 9, 3, TensorPayload.Wrap(Floats))],
        [new TreeSum("run-1", 9, 2, new Subtree(2, 3), 0, 12.5, 300, TensorPayload.Wrap(Doubles))],
        [new ReplicaAttach(ProtocolInfo.Version, "127.0.0.1:4054")],
        [new ReplicaAttach(ProtocolInfo.Version, "127.0.0.1:4055", "run-1", 119)],
        [new ReplicaResumed("run-1", 120, "")],
        [new ReplicaResumed("run-1", 120, "this coordinator keeps the decisions from step 125 on only")],
        [new ReplicaSnapshotPart("run-1", 120, 1, 3, Enumerable.Range(0, 40000).Select(i => (byte)i).ToArray())],
        [new StepDecision("run-1", 121, 812.5, 3072, 2, TensorPayload.Wrap(Doubles))],
        [new DecisionAck("run-1", 121)],
        // --state carry: the carried states travel before the large tensor
        [new ComputeSubtrees("run-1", 43, [new Subtree(1, 0)], TensorPayload.Wrap(Floats), TensorPayload.Wrap(new[] { 0.5f, -1f, 0f }))],
        [new SubtreeResult("run-1", 8, new Subtree(0, 1), 9.5, 24, TensorPayload.Wrap(Doubles), TensorPayload.Wrap(new[] { -0.25, 1.0 }))],
        [new StepDecision("run-1", 122, 1.5, 64, 3, TensorPayload.Wrap(Floats), TensorPayload.Wrap(new[] { 0.125f }))],
        [new TreeStep("run-1", 9, 4, ["a", "b"], [[new Subtree(1, 0)], [new Subtree(1, 1)]], 1, ["h:1", ""], [1], [2], TensorPayload.Wrap(new[] { 0.5, -0.75 }))],
        [new TreeSum("run-1", 9, 4, new Subtree(1, 1), 0, 3.5, 48, TensorPayload.Wrap(Floats), TensorPayload.Wrap(new[] { 0.25f, -1f }))],
    ];

    /// <summary>
    /// Between nodes every message crosses the wire, but serialize-messages is off in a cluster (Akka's own local
    /// events have no serializer): this list is what proves each of our message types survives the round trip.
    /// </summary>
    [Fact]
    public void Every_protocol_message_type_is_in_the_round_trip_list()
    {
        var types = typeof(IProtocolMessage).Assembly.GetTypes()
            .Where(t => typeof(IProtocolMessage).IsAssignableFrom(t) && t is { IsClass: true, IsAbstract: false })
            .Select(t => t.FullName).Order();
        Assert.Equal(types, Messages().Select(m => m[0].GetType().FullName).Distinct().Order());
    }

    private SerializerWithStringManifest SerializerFor(object msg)
    {
        var s = Sys.Serialization.FindSerializerFor(msg);
        return Assert.IsType<ProtocolSerializer>(s);
    }

    [Theory]
    [MemberData(nameof(Messages))]
    public void Every_message_is_bound_to_the_binary_serializer_and_survives_a_round_trip(object msg)
    {
        var serializer = SerializerFor(msg);
        var bytes = serializer.ToBinary(msg);
        var back = serializer.FromBinary(bytes, serializer.Manifest(msg));
        Assert.IsType(msg.GetType(), back);
        Assert.Equal(bytes, serializer.ToBinary(back));
        // records without arrays (tensors, nonces, proofs) compare by value
        if (msg is Registered or Refused or RunEnded or WorkerLeaving or ReplicaAttach or ReplicaResumed or DecisionAck) Assert.Equal(msg, back);
    }

    /// <summary>A plan's peer endpoints and ticket, and a registration's peer port, arrive as sent; a plan with a peer list of the wrong length is refused.</summary>
    [Fact]
    public void Peer_endpoints_ticket_and_port_survive_the_round_trip()
    {
        var plan = new TreeStep("r", 2, 1, ["a", "b"], [[new Subtree(1, 0)], [new Subtree(1, 1)]], 1, ["h:1", "h:2"], [1, 2], [3, 4, 5]);
        var s = SerializerFor(plan);
        var back = (TreeStep)s.FromBinary(s.ToBinary(plan), s.Manifest(plan));
        Assert.Equal(["h:1", "h:2"], back.Peers);
        Assert.Equal(new byte[] { 1, 2 }, back.PeerTicketId);
        Assert.Equal(new byte[] { 3, 4, 5 }, back.PeerTicketKey);
        Assert.Null(back.States);
        var carried = (TreeStep)s.FromBinary(s.ToBinary(plan with { States = TensorPayload.Wrap(new[] { 0.5f, -2f }) }), s.Manifest(plan));
        Assert.Equal(new[] { 0.5f, -2f }, carried.States!.ToArray<float>());
        var sum = new TreeSum("r", 2, 1, new Subtree(1, 0), 0, 1.5, 8, TensorPayload.Wrap(new[] { 1.0 }), TensorPayload.Wrap(new[] { -0.125 }));
        Assert.Equal(new[] { -0.125 }, ((TreeSum)s.FromBinary(s.ToBinary(sum), s.Manifest(sum))).States!.ToArray<double>());
        var wrong = plan with { Peers = ["h:1"] };
        Assert.Throws<SerializationException>(() => s.FromBinary(s.ToBinary(wrong), s.Manifest(wrong)));
        var register = new Register(ProtocolInfo.Version, "r", "n", "sha", "fp", 5, 1, [], 4321);
        Assert.Equal(4321, ((Register)s.FromBinary(s.ToBinary(register), s.Manifest(register))).PeerPort);
    }

    [Fact]
    public void Tensors_travel_as_raw_little_endian_bits()
    {
        var msg = new ComputeSubtrees("run", 3, [new Subtree(1, 1)], TensorPayload.Wrap(Floats));
        var serializer = SerializerFor(msg);
        var bytes = serializer.ToBinary(msg);
        var back = (ComputeSubtrees)serializer.FromBinary(bytes, serializer.Manifest(msg));
        Assert.Equal(Precision.Float32, back.Parameters.Precision);
        var values = back.Parameters.ToArray<float>(Floats.Length);
        Assert.Equal(Floats.Select(BitConverter.SingleToInt32Bits), values.Select(BitConverter.SingleToInt32Bits));
        Assert.Equal(new[] { new Subtree(1, 1) }, back.Nodes);
        // the tensor is the bulk of the frame: 4 bytes a value, no text
        Assert.InRange(bytes.Length, Floats.Length * 4, Floats.Length * 4 + 64);

        var result = new SubtreeResult("run", 9, new Subtree(2, 3), 1.25, 77, TensorPayload.Wrap(Doubles));
        var r = (SubtreeResult)serializer.FromBinary(serializer.ToBinary(result), serializer.Manifest(result));
        Assert.Equal((9L, new Subtree(2, 3), 1.25, 77L), (r.Step, r.Node, r.Loss, r.Chars));
        Assert.Equal(Doubles.Select(BitConverter.DoubleToInt64Bits), r.Gradient.ToArray<double>().Select(BitConverter.DoubleToInt64Bits));
    }

    /// <summary>A tree chunk is far below the smallest frame: worker-to-worker traffic fits any node's frames, whatever the model.</summary>
    [Fact]
    public void A_tree_chunk_fits_the_smallest_frame_and_a_plan_must_name_its_receiver()
    {
        var chunk = new TreeSum("run", long.MaxValue, int.MaxValue, new Subtree(4, 0), 1000, 1, 1, TensorPayload.Wrap(new double[ChunkLayout.MaxChunkBytes / 8]));
        Assert.InRange(SerializerFor(chunk).ToBinary(chunk).Length, ChunkLayout.MaxChunkBytes, AkkaConfig.MinFrameBytes - AkkaConfig.FrameOverheadBytes);
        var serializer = SerializerFor(chunk);
        foreach (var bad in new[] { -1, 2 })
        {
            var plan = new TreeStep("run", 1, 1, ["a", "b"], [[new Subtree(1, 0)], [new Subtree(1, 1)]], bad);
            Assert.Throws<SerializationException>(() => serializer.FromBinary(serializer.ToBinary(plan), serializer.Manifest(plan)));
        }
        var uneven = new TreeStep("run", 1, 1, ["a", "b"], [[new Subtree(1, 0)]], 0);
        Assert.Throws<SerializationException>(() => serializer.FromBinary(serializer.ToBinary(uneven), serializer.Manifest(uneven)));
    }

    [Fact]
    public void A_hidden_1024_float64_model_fits_one_frame()
    {
        var shape = new ModelShape(256, 1024);
        var msg = new ComputeSubtrees("run", 1, [new Subtree(4, 0)], TensorPayload.Wrap(new double[shape.Count]));
        int size = SerializerFor(msg).ToBinary(msg).Length;
        Assert.InRange(size, shape.Count * 8, AkkaConfig.MaxFrameBytes - AkkaConfig.FrameOverheadBytes);
        CoordinatorNode<double>.CheckFits(shape); // does not throw
        Assert.Throws<InputException>(() => CoordinatorNode<double>.CheckFits(new ModelShape(65, 4096)));
    }

    [Fact]
    public void Truncated_or_padded_frames_and_wrong_precisions_are_errors_not_garbage()
    {
        var msg = new SubtreeResult("run", 9, new Subtree(2, 3), 1.25, 77, TensorPayload.Wrap(Doubles));
        var serializer = SerializerFor(msg);
        var bytes = serializer.ToBinary(msg);
        string manifest = serializer.Manifest(msg);
        // the transport drops a frame whose deserialization throws SerializationException
        Assert.Throws<SerializationException>(() => serializer.FromBinary(bytes[..^1], manifest));
        Assert.Throws<SerializationException>(() => serializer.FromBinary(bytes[..10], manifest));
        Assert.Throws<SerializationException>(() => serializer.FromBinary([.. bytes, 0], manifest));
        Assert.Throws<SerializationException>(() => serializer.FromBinary(bytes, "no such manifest"));
        var back = (SubtreeResult)serializer.FromBinary(bytes, manifest);
        Assert.Throws<ProtocolException>(() => back.Gradient.ToArray<float>());
        Assert.Throws<ProtocolException>(() => back.Gradient.ToArray<double>(Doubles.Length + 1));
    }
}
