using System.Text.Json;
using DistRnn.Configuration;
using DistRnn.Coordinator.Scheduling;
using DistRnn.Data;
using DistRnn.Protocol;
using DistRnn.Security;

namespace DistRnn.Coordinator.Node;

/// <summary>
/// How a step's tensors travel (train --data-plane; docs/data-plane.md). Star: the coordinator sends the parameters to
/// every worker and sums their results. Tree: the workers sum among themselves along the coordinator's plan, and the
/// parameters come down the same tree; the coordinator sends and receives one model's worth per step. Same bits.
/// </summary>
public enum DataPlane { Star, Tree }

/// <summary>What the coordinator needs to know about the run, and where its notes to the user go.</summary>
public sealed record CoordinatorSettings
{
    public required TrainConfig Config { get; init; }
    public required string CorpusSha256 { get; init; }
    public required string CorpusName { get; init; }
    public required int VocabSize { get; init; }
    /// <summary>Distinguishes this coordinator's run from an earlier incarnation (results for another run are dropped).</summary>
    public string RunId { get; init; } = Guid.NewGuid().ToString("N");
    public Func<DeadlinePolicy> Deadline { get; init; } = () => DeadlinePolicy.Default;
    /// <summary>When idle workers recompute a straggler's subtrees (backup tasks).</summary>
    public Func<BackupPolicy> Backup { get; init; } = () => BackupPolicy.Default;
    /// <summary>How long a step may wait with no worker at all before the run fails.</summary>
    public TimeSpan NoWorkerTimeout { get; init; } = TimeSpan.FromMinutes(2);
    /// <summary>How long <see cref="EndRun"/> waits for workers to say goodbye.</summary>
    public TimeSpan EndGrace { get; init; } = TimeSpan.FromSeconds(3);
    /// <summary>The run's shared secret (--secret-file): workers must prove it when they register; null = an open run.</summary>
    public SharedSecret? Secret { get; init; }
    /// <summary>The coordinator's TLS identity: it signs each worker's nonce with it (the worker checks its role); null without TLS.</summary>
    public TlsCredentials? Tls { get; init; }
    /// <summary>The run's corpus: lets the coordinator recompute a subtree whose result is NaN or ±∞ (honest divergence or a forgery?).</summary>
    public Corpus? Corpus { get; init; }
    public DataPlane DataPlane { get; init; } = DataPlane.Star;
    public Action<string> Info { get; init; } = _ => { };
    public Action<string> Warn { get; init; } = _ => { };
    /// <summary>The numbers served at --metrics (roster events, refusals, data-channel bytes); null without --metrics.</summary>
    public Metrics.CoordinatorMetrics? Metrics { get; init; }

    public static CoordinatorSettings For(TrainConfig config, Corpus corpus) => new()
    {
        Config = config,
        CorpusSha256 = corpus.Sha256,
        CorpusName = corpus.Name,
        VocabSize = corpus.Vocabulary.Size,
        Corpus = corpus,
    };

    public string ConfigJson => JsonSerializer.Serialize(Config with { Corpus = null }, TrainConfig.Json);

    public RunSpec Spec => new(ProtocolInfo.Version, RunId, ConfigJson, CorpusSha256, CorpusName, VocabSize);

    /// <summary>What a registration proof is bound to for the worker at <paramref name="workerAddress"/>.</summary>
    public RegistrationContext ProofContext(string workerAddress) =>
        new(ProtocolInfo.Version, RunId, CorpusSha256, Config.Fingerprint(), workerAddress);

    /// <summary>Why a registration cannot be accepted, or null when it can.</summary>
    public string? RefusalReason(Register r)
    {
        if (r.ProtocolVersion != ProtocolInfo.Version)
            return $"protocol version {r.ProtocolVersion} differs from the coordinator's {ProtocolInfo.Version}";
        if (r.RunId != RunId)
            return $"registration for run {r.RunId} but this run is {RunId}";
        if (!string.Equals(r.CorpusSha256, CorpusSha256, StringComparison.OrdinalIgnoreCase))
            return $"corpus sha256 {Short(r.CorpusSha256)} differs from the coordinator's {Short(CorpusSha256)} ({CorpusName}); start the worker with --corpus pointing at the same file";
        if (r.VocabSize != VocabSize)
            return $"vocabulary size {r.VocabSize} differs from the coordinator's {VocabSize}";
        string mine = Config.Fingerprint();
        if (r.ConfigFingerprint != mine)
            return $"configuration fingerprint differs (worker {r.ConfigFingerprint}, coordinator {mine}); the worker is probably another version of DistRnn";
        return null;
    }

    private static string Short(string sha) => sha.Length > 12 ? sha[..12] + "…" : sha;
}
