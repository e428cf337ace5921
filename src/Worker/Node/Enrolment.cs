using System.Text.Json;
using DistRnn.Configuration;
using DistRnn.Data;
using DistRnn.Model;
using DistRnn.Protocol;
using DistRnn.Security;
using DistRnn.Worker.Compute;
using DistRnn.Worker.Security;

namespace DistRnn.Worker.Node;

/// <summary>What the worker makes of a coordinator's run spec.</summary>
/// <param name="Register">the registration to send (always: a refused one tells the coordinator's user why)</param>
/// <param name="Compute">the compute engine for the run; null when the corpus differs or the configuration is unreadable</param>
/// <param name="WireValues">the most values a message of the run carries (<see cref="TrainConfig.WireValues"/>: bounds the frames)</param>
/// <param name="Refusal">why this worker refuses the coordinator (it cannot prove the secret), or null</param>
/// <param name="Relay">this worker's side of the tree data plane for the run (with <paramref name="Compute"/>), or null</param>
public sealed record Enrolled(Register Register, IWorkerCompute? Compute, int WireValues, string? Refusal, ITreeRelay<Akka.Actor.IActorRef>? Relay = null);

/// <summary>
/// The worker's side of registration as plain logic: from the run spec, the configuration's fingerprint as this worker
/// understands it, a compute engine when the corpus is the same, the proof that binds what this worker holds and
/// where it is, and whether the coordinator proved the secret too.
/// </summary>
public static class Enrolment
{
    /// <param name="address">this node's own address, which the proofs name</param>
    public static Enrolled Enrol(RunSpec spec, WorkerSettings s, WorkerCredentials credentials, string address)
    {
        string fingerprint;
        IWorkerCompute? compute = null;
        ITreeRelay<Akka.Actor.IActorRef>? relay = null;
        int wireValues = 0;
        try
        {
            var config = JsonSerializer.Deserialize<TrainConfig>(spec.ConfigJson, TrainConfig.Json) ?? throw new JsonException("empty configuration");
            fingerprint = config.Fingerprint();
            // Nothing is computed for a corpus that differs: the registration is refused and says why.
            if (spec.CorpusSha256 == s.Corpus.Sha256)
                compute = config.PrecisionKind == Precision.Float32
                    ? new WorkerCompute<float>(config, s.Corpus, s.Threads) { Slowdown = s.Slowdown }
                    : new WorkerCompute<double>(config, s.Corpus, s.Threads) { Slowdown = s.Slowdown };
            if (compute is not null && s.Metrics is not null) compute = s.Metrics.Measure(compute);
            var shape = config.ShapeFor(s.Corpus.Vocabulary.Size);
            wireValues = config.WireValues(s.Corpus.Vocabulary.Size);
            if (compute is not null)
                relay = TreeRelay.For<Akka.Actor.IActorRef>(config.PrecisionKind, spec.RunId, shape.Count, config.ShardCount,
                    config.Batch, config.CarriesState ? shape.StateSize : 0);
        }
        catch (Exception e) when (e is JsonException or InputException or NotSupportedException)
        {
            fingerprint = $"unreadable configuration: {e.Message}";
        }
        var context = new RegistrationContext(ProtocolInfo.Version, spec.RunId, s.Corpus.Sha256, fingerprint, address);
        var register = new Register(ProtocolInfo.Version, spec.RunId, s.Node, s.Corpus.Sha256, fingerprint, s.Corpus.Vocabulary.Size, s.Threads,
            credentials.Answer(spec.Challenge ?? [], context));
        string? refusal = credentials.CoordinatorRefusal(spec.Challenge ?? [], spec.CoordinatorProof ?? [], context,
            spec.CoordinatorCertificate ?? [], spec.CoordinatorSignature ?? []);
        if (refusal is not null)
        {
            compute?.Dispose();
            compute = null;
            relay = null;
        }
        return new Enrolled(register, compute, wireValues, refusal, relay);
    }
}
