using Akka.Actor;
using Akka.Serialization;

namespace DistRnn.Protocol;

/// <summary>
/// Binary serializer of every <see cref="IProtocolMessage"/>: little-endian fields, UTF-8 strings with a
/// length, tensors as raw IEEE-754 bytes. The manifest is a short fixed code per message type, so a new
/// message (say, a challenge for authentication) is one more case here and one more code. Every length read
/// is checked, so a truncated or forged frame is an error, never an out-of-range read.
/// </summary>
public sealed class ProtocolSerializer(ExtendedActorSystem system) : SerializerWithStringManifest(system)
{
    public const int Id = 7411;
    public override int Identifier => Id;

    private const string JoinRequestCode = "J", RunSpecCode = "S", RegisterCode = "R", RegisteredCode = "OK",
        RefusedCode = "NO", ComputeCode = "C", ResultCode = "G", RunEndedCode = "E", LeavingCode = "L";

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

    private static void Write(object obj, ref WireWriter w)
    {
        switch (obj)
        {
            case JoinRequest m: w.Int(m.ProtocolVersion); w.String(m.Node); w.Int(m.Threads); break;
            case RunSpec m: w.Int(m.ProtocolVersion); w.String(m.RunId); w.String(m.ConfigJson); w.String(m.CorpusSha256); w.String(m.CorpusName); w.Int(m.VocabSize); break;
            case Register m: w.Int(m.ProtocolVersion); w.String(m.RunId); w.String(m.Node); w.String(m.CorpusSha256); w.String(m.ConfigFingerprint); w.Int(m.VocabSize); w.Int(m.Threads); break;
            case Registered m: w.String(m.RunId); w.Int(m.Workers); break;
            case Refused m: w.String(m.Reason); break;
            case ComputeSubtrees m: w.String(m.RunId); w.Long(m.Step); w.Subtrees(m.Nodes); w.Tensor(m.Parameters); break;
            case SubtreeResult m: w.String(m.RunId); w.Long(m.Step); w.Subtree(m.Node); w.Double(m.Loss); w.Long(m.Chars); w.Tensor(m.Gradient); break;
            case RunEnded m: w.Bool(m.Completed); w.String(m.Reason); break;
            case WorkerLeaving m: w.String(m.Reason); break;
            default: throw new ArgumentException($"{nameof(ProtocolSerializer)} cannot serialize {obj.GetType()}");
        }
    }

    public override object FromBinary(byte[] bytes, string manifest)
    {
        var r = new WireReader(bytes);
        object msg = manifest switch
        {
            JoinRequestCode => new JoinRequest(r.Int(), r.String(), r.Int()),
            RunSpecCode => new RunSpec(r.Int(), r.String(), r.String(), r.String(), r.String(), r.Int()),
            RegisterCode => new Register(r.Int(), r.String(), r.String(), r.String(), r.String(), r.Int(), r.Int()),
            RegisteredCode => new Registered(r.String(), r.Int()),
            RefusedCode => new Refused(r.String()),
            ComputeCode => new ComputeSubtrees(r.String(), r.Long(), r.Subtrees(), r.Tensor()),
            ResultCode => new SubtreeResult(r.String(), r.Long(), r.Subtree(), r.Double(), r.Long(), r.Tensor()),
            RunEndedCode => new RunEnded(r.Bool(), r.String()),
            LeavingCode => new WorkerLeaving(r.String()),
            _ => throw new ProtocolException($"unknown message manifest '{manifest}'"),
        };
        r.End();
        return msg;
    }
}
