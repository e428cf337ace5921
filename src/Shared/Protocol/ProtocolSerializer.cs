using System.Runtime.Serialization;
using Akka.Actor;
using Akka.Serialization;

namespace DistRnn.Protocol;

/// <summary>
/// Binary serializer of every <see cref="IProtocolMessage"/>: little-endian fields, UTF-8 strings with a
/// length, tensors as raw IEEE-754 bytes. The manifest is a short fixed code per message type, so a new
/// message (say, a challenge for authentication) is one more case here and one more code. Every length read
/// is checked — against the bytes left and against <see cref="WireLimits"/> (the tensor bound is the configured
/// model size, <c>distrnn.wire.max-tensor-values</c>) — so a truncated, random or forged frame raises a
/// <see cref="SerializationException"/> (Akka's transport logs it and drops that one message; the association
/// stays up), never an out-of-range read, a crash or an allocation larger than the frame or the model.
/// </summary>
public sealed class ProtocolSerializer : SerializerWithStringManifest
{
    public const int Id = 7411;
    public override int Identifier => Id;

    /// <summary>HOCON path of the largest tensor (in values) a message may carry on this node.</summary>
    public const string MaxTensorValuesPath = "distrnn.wire.max-tensor-values";

    public ProtocolSerializer(ExtendedActorSystem system) : base(system)
    {
        long max = system.Settings.Config.GetLong(MaxTensorValuesPath, 0);
        Limits = new WireLimits(max > 0 ? (int)Math.Min(max, int.MaxValue) : DefaultMaxTensorValues);
    }

    /// <summary>Without a configured model size: whatever fits the largest frame.</summary>
    public static int DefaultMaxTensorValues => Transport.AkkaConfig.MaxFrameBytes / 4;

    public WireLimits Limits { get; }

    internal const string JoinRequestCode = "J", RunSpecCode = "S", RegisterCode = "R", RegisteredCode = "OK",
        RefusedCode = "NO", ComputeCode = "C", ResultCode = "G", RunEndedCode = "E", LeavingCode = "L", DataOfferCode = "D",
        TreeStepCode = "TS", TreeParametersCode = "TD", TreeSumCode = "TU";
    // between coordinators (ReplicaMessages)
    internal const string ReplicaAttachCode = "FJ", SnapshotPartCode = "FS", DecisionCode = "FD", DecisionAckCode = "FA", ResumedCode = "FR";

    public override string Manifest(object o) => o switch
    {
        JoinRequest => JoinRequestCode,
        RunSpec => RunSpecCode,
        Register => RegisterCode,
        Registered => RegisteredCode,
        Refused => RefusedCode,
        ComputeSubtrees => ComputeCode,
        SubtreeResult => ResultCode,
        RunEnded => RunEndedCode,
        WorkerLeaving => LeavingCode,
        DataChannelOffer => DataOfferCode,
        TreeStep => TreeStepCode,
        TreeParameters => TreeParametersCode,
        TreeSum => TreeSumCode,
        ReplicaAttach => ReplicaAttachCode,
        ReplicaSnapshotPart => SnapshotPartCode,
        StepDecision => DecisionCode,
        DecisionAck => DecisionAckCode,
        ReplicaResumed => ResumedCode,
        _ => throw new ArgumentException($"{nameof(ProtocolSerializer)} cannot serialize {o.GetType()}"),
    };

    public override byte[] ToBinary(object obj)
    {
        var counter = new WireWriter(null);
        Write(obj, ref counter);
        var bytes = new byte[counter.Length];
        var writer = new WireWriter(bytes);
        Write(obj, ref writer);
        return bytes;
    }

    internal static void Write(object obj, ref WireWriter w)
    {
        switch (obj)
        {
            case JoinRequest m: w.Int(m.ProtocolVersion); w.String(m.Node); w.Int(m.Threads); w.Bytes(m.Nonce); break;
            case RunSpec m: w.Int(m.ProtocolVersion); w.String(m.RunId); w.String(m.ConfigJson); w.String(m.CorpusSha256); w.String(m.CorpusName); w.Int(m.VocabSize); w.Bytes(m.Challenge); w.Bytes(m.CoordinatorProof); w.Bytes(m.CoordinatorCertificate); w.Bytes(m.CoordinatorSignature); break;
            case Register m: w.Int(m.ProtocolVersion); w.String(m.RunId); w.String(m.Node); w.String(m.CorpusSha256); w.String(m.ConfigFingerprint); w.Int(m.VocabSize); w.Int(m.Threads); w.Bytes(m.Proof); w.Int(m.PeerPort); break;
            case Registered m: w.String(m.RunId); w.Int(m.Workers); break;
            case Refused m: w.String(m.Reason); break;
            case ComputeSubtrees m: w.String(m.RunId); w.Long(m.Step); w.Subtrees(m.Nodes); w.OptionalTensor(m.States); w.Tensor(m.Parameters); break;
            case SubtreeResult m: w.String(m.RunId); w.Long(m.Step); w.Subtree(m.Node); w.Double(m.Loss); w.Long(m.Chars); w.OptionalTensor(m.States); w.Tensor(m.Gradient); break;
            case RunEnded m: w.Bool(m.Completed); w.String(m.Reason); break;
            case WorkerLeaving m: w.String(m.Reason); break;
            case DataChannelOffer m: w.String(m.RunId); w.Int(m.Port); w.Bytes(m.TicketId); w.Bytes(m.TicketKey); break;
            case TreeStep m: w.String(m.RunId); w.Long(m.Step); w.Int(m.Epoch); w.Strings(m.Workers); w.Int(m.Pieces.Length); foreach (var p in m.Pieces) w.Subtrees(p); w.Int(m.You); w.Strings(m.Peers ?? []); w.Bytes(m.PeerTicketId ?? []); w.Bytes(m.PeerTicketKey ?? []); w.OptionalTensor(m.States); break;
            case TreeParameters m: w.String(m.RunId); w.Long(m.Step); w.Int(m.Chunk); w.Tensor(m.Values); break;
            case TreeSum m: w.String(m.RunId); w.Long(m.Step); w.Int(m.Epoch); w.Subtree(m.Node); w.Int(m.Chunk); w.Double(m.Loss); w.Long(m.Chars); w.OptionalTensor(m.States); w.Tensor(m.Values); break;
            case ReplicaAttach m: w.Int(m.ProtocolVersion); w.String(m.Node); w.String(m.RunId); w.Long(m.HeldThrough); break;
            case ReplicaResumed m: w.String(m.RunId); w.Long(m.From); w.String(m.Refusal); break;
            case ReplicaSnapshotPart m: w.String(m.RunId); w.Long(m.Step); w.Int(m.Index); w.Int(m.Count); w.Bytes(m.Bytes); break;
            case StepDecision m: w.String(m.RunId); w.Long(m.Step); w.Double(m.Loss); w.Long(m.Chars); w.Int(m.Workers); w.OptionalTensor(m.States); w.Tensor(m.Gradient); break;
            case DecisionAck m: w.String(m.RunId); w.Long(m.Step); break;
            default: throw new ArgumentException($"{nameof(ProtocolSerializer)} cannot serialize {obj.GetType()}");
        }
    }

    public override object FromBinary(byte[] bytes, string manifest)
    {
        try { return Read(bytes, manifest, Limits); }
        catch (Exception e) when (e is not SerializationException and not OutOfMemoryException)
        {
            throw new SerializationException($"dropped a malformed distrnn message (manifest '{Printable(manifest)}', {bytes?.Length ?? 0} bytes): {e.Message}", e);
        }
    }

    private static string Printable(string? s) =>
        s is null ? "null" : new string(s.Take(16).Select(c => char.IsControl(c) ? '?' : c).ToArray());

    /// <summary>Reads one message from the first <paramref name="length"/> bytes of <paramref name="bytes"/> (all of them when -1).</summary>
    internal static object Read(byte[] bytes, string manifest, WireLimits limits, int length = -1)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        var r = new WireReader(bytes, limits, length);
        object msg = manifest switch
        {
            // a version-1 worker sends no nonce: it still gets a clear "protocol version" refusal
            JoinRequestCode => new JoinRequest(r.Int(), r.String(), r.Int(), r.AtEnd ? [] : r.Bytes()),
            RunSpecCode => new RunSpec(r.Int(), r.String(), r.String(), r.String(), r.String(), r.Int(), r.Bytes(), r.Bytes(), r.AtEnd ? [] : r.Bytes(), r.AtEnd ? [] : r.Bytes()),
            RegisterCode => new Register(r.Int(), r.String(), r.String(), r.String(), r.String(), r.Int(), r.Int(), r.Bytes(), r.AtEnd ? 0 : r.Int()),
            RegisteredCode => new Registered(r.String(), r.Int()),
            RefusedCode => new Refused(r.String()),
            ComputeCode => ReadCompute(r),
            ResultCode => ReadResult(r),
            RunEndedCode => new RunEnded(r.Bool(), r.String()),
            LeavingCode => new WorkerLeaving(r.String()),
            DataOfferCode => new DataChannelOffer(r.String(), r.Int(), r.Bytes(), r.Bytes()),
            TreeStepCode => ReadTreeStep(r),
            TreeParametersCode => new TreeParameters(r.String(), r.Long(), r.Int(), r.Tensor()),
            TreeSumCode => ReadTreeSum(r),
            // a version-5 standby sends no run or step: it is read, then refused by its version
            ReplicaAttachCode => new ReplicaAttach(r.Int(), r.String(), r.AtEnd ? "" : r.String(), r.AtEnd ? -1 : r.Long()),
            ResumedCode => new ReplicaResumed(r.String(), r.Long(), r.String()),
            SnapshotPartCode => new ReplicaSnapshotPart(r.String(), r.Long(), r.Int(), r.Int(), r.LargeBytes()),
            DecisionCode => ReadDecision(r),
            DecisionAckCode => new DecisionAck(r.String(), r.Long()),
            _ => throw new ProtocolException($"unknown message manifest '{manifest}'"),
        };
        r.End();
        return msg;
    }

    // The carried states (an optional tensor) come before the large tensor, which stays the last field (the data channel sends its values apart).
    private static ComputeSubtrees ReadCompute(WireReader r)
    {
        string run = r.String(); long step = r.Long(); var nodes = r.Subtrees(); var states = r.OptionalTensor();
        return new ComputeSubtrees(run, step, nodes, r.Tensor(), states);
    }

    private static SubtreeResult ReadResult(WireReader r)
    {
        string run = r.String(); long step = r.Long(); var node = r.Subtree(); double loss = r.Double(); long chars = r.Long(); var states = r.OptionalTensor();
        return new SubtreeResult(run, step, node, loss, chars, r.Tensor(), states);
    }

    private static TreeSum ReadTreeSum(WireReader r)
    {
        string run = r.String(); long step = r.Long(); int epoch = r.Int(); var node = r.Subtree(); int chunk = r.Int(); double loss = r.Double(); long chars = r.Long();
        var states = r.OptionalTensor();
        return new TreeSum(run, step, epoch, node, chunk, loss, chars, r.Tensor(), states);
    }

    private static StepDecision ReadDecision(WireReader r)
    {
        string run = r.String(); long step = r.Long(); double loss = r.Double(); long chars = r.Long(); int workers = r.Int(); var states = r.OptionalTensor();
        return new StepDecision(run, step, loss, chars, workers, r.Tensor(), states);
    }

    /// <summary>As many piece lists as workers, and the receiver's index among them (a plan it cannot find itself in is malformed).</summary>
    private static TreeStep ReadTreeStep(WireReader r)
    {
        string run = r.String();
        long step = r.Long();
        int epoch = r.Int();
        var workers = r.Strings();
        int n = r.Int();
        if (n != workers.Length) throw new ProtocolException($"tree plan with {workers.Length} workers but {n} piece lists");
        var pieces = new Reduction.Subtree[n][];
        for (int i = 0; i < n; i++) pieces[i] = r.Subtrees();
        int you = r.Int();
        if (you < 0 || you >= n) throw new ProtocolException($"tree plan's receiver index {you} is not one of its {n} workers");
        if (r.AtEnd) return new TreeStep(run, step, epoch, workers, pieces, you);
        var peers = r.Strings();
        if (peers.Length != 0 && peers.Length != n) throw new ProtocolException($"tree plan with {n} workers but {peers.Length} peer endpoints");
        var ticketId = r.Bytes();
        var ticketKey = r.Bytes();
        return new TreeStep(run, step, epoch, workers, pieces, you, peers, ticketId, ticketKey, r.OptionalTensor());
    }
}
