namespace DistRnn.Coordinator.Checkpoints;

/// <summary>
/// How a run is carried out, apart from what it computes: its cluster shape, security files and output
/// cadence. None of it changes the bits (that is <see cref="Configuration.TrainConfig"/>, whose fingerprint
/// must stay as it is), but a resumed coordinator needs all of it again; so each checkpoint saves it as "run",
/// and `train --resume` takes every one of these that is not typed from there. Checkpoints from before this
/// have none: a resume from them starts from the defaults.
/// </summary>
public sealed record RunSettings
{
    public int Workers { get; init; } = 2;
    /// <summary>Null: --workers, at least 1 with --listen.</summary>
    public int? MinWorkers { get; init; }
    public string? Listen { get; init; }
    /// <summary>--discovery, --contact-points, --management: Cluster Bootstrap instead of being the cluster's first member.</summary>
    public string? Discovery { get; init; }
    public string? ContactPoints { get; init; }
    public string? Management { get; init; }
    public int WaitTimeout { get; init; } = 300;
    public bool NoBackupTasks { get; init; }
    /// <summary>--insecure: an open --listen beyond loopback was asked for (a resume keeps it).</summary>
    public bool Insecure { get; init; }
    /// <summary>0: all cores.</summary>
    public int Threads { get; init; }
    /// <summary>Full paths in a saved header, so a resume from another folder finds the same files.</summary>
    public string? SecretFile { get; init; }
    public string? TlsCert { get; init; }
    public string? TlsCa { get; init; }
    public int CheckpointEvery { get; init; } = 250;
    /// <summary>0: with each checkpoint.</summary>
    public int EvalEvery { get; init; }
    public int KeepCheckpoints { get; init; } = 5;
    public int LogEvery { get; init; } = 10;
    /// <summary>--data-plane: star or tree (how a step's tensors travel; the bits are the same).</summary>
    public string DataPlane { get; init; } = "star";

    /// <summary>As saved in a checkpoint: the file options as full paths.</summary>
    public RunSettings ToSave() => this with { SecretFile = Full(SecretFile), TlsCert = Full(TlsCert), TlsCa = Full(TlsCa) };

    private static string? Full(string? path) => path is null ? null : Path.GetFullPath(path);

    /// <summary>The first saved value no `train` option would accept, or null.</summary>
    public string? Problem() =>
        Workers < 0 ? $"workers {Workers} is negative"
        : MinWorkers < 0 ? $"min-workers {MinWorkers} is negative"
        : WaitTimeout <= 0 ? $"wait-timeout {WaitTimeout} is not positive"
        : Threads < 0 ? $"threads {Threads} is negative"
        : CheckpointEvery <= 0 ? $"checkpoint-every {CheckpointEvery} is not positive"
        : EvalEvery < 0 ? $"eval-every {EvalEvery} is negative"
        : LogEvery <= 0 ? $"log-every {LogEvery} is not positive"
        : DataPlane is not ("star" or "tree") ? $"data-plane {DataPlane} is not star or tree"
        : null;
}
