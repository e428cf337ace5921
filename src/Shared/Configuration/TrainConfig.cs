using System.Text.Json;
using System.Text.Json.Serialization;
using DistRnn.Model;
using DistRnn.Reduction;

namespace DistRnn.Configuration;

/// <summary>
/// Everything that defines a training run. Saved with every checkpoint (the effective configuration),
/// and the same names as the command-line options (kebab-case) are used in configuration files.
/// </summary>
public sealed record TrainConfig
{
    /// <summary>Corpus file; null = the embedded tiny-shakespeare.</summary>
    public string? Corpus { get; init; }
    // The defaults are those of `train` with no options (docs/optimizers.md, "The default run"): it reaches a
    // validation loss of 1.691 nats/char on the embedded corpus, measured at 68 s on two shared cores. The step
    // schedule, unlike cosine, does not depend on --steps, so a default run extended by a resume keeps the bits
    // of a straight run.
    public int Hidden { get; init; } = 192;
    public int Seq { get; init; } = 64;
    public int Batch { get; init; } = 32;
    public long Steps { get; init; } = 6000;
    public string Optimizer { get; init; } = "adam";
    public double Lr { get; init; } = 4e-3;
    /// <summary>RMSProp's α (char-rnn's decay_rate); only --optimizer rmsprop reads it.</summary>
    public double RmspropDecay { get; init; } = 0.95;
    /// <summary>constant, step (char-rnn's decay) or cosine; the formulas are in LearningRateSchedule.</summary>
    public string LrSchedule { get; init; } = "step";
    /// <summary>--lr-schedule step: the factor γ applied at the end of each period from --lr-decay-after on (char-rnn's learning_rate_decay).</summary>
    public double LrDecay { get; init; } = 0.65;
    /// <summary>--lr-schedule step: the first period at whose end the rate decays (char-rnn's learning_rate_decay_after).</summary>
    public int LrDecayAfter { get; init; } = 4;
    /// <summary>--lr-schedule step: the period in steps; 0 = one epoch as char-rnn counts them (training characters / (batch × seq)).</summary>
    public long LrDecayEvery { get; init; } = 500;
    /// <summary>Steps of linear warmup (rate lr·t/W for t &lt; W); 0 = none. Applies to every schedule.</summary>
    public long WarmupSteps { get; init; }
    public double Clip { get; init; } = 5;
    public string Activation { get; init; } = "tanh";
    /// <summary>The recurrent cell: rnn (the lecture's, default), lstm or gru (docs/cells.md).</summary>
    public string Cell { get; init; } = "rnn";
    /// <summary>Stacked recurrent layers.</summary>
    public int Layers { get; init; } = 1;
    /// <summary>Dropout's p on every layer's output (between layers and before the output layer), in training only; 0 = none.</summary>
    public double Dropout { get; init; }
    public string Precision { get; init; } = "float32";
    public long Seed { get; init; } = 1;
    public double ValFrac { get; init; } = 0.1;
    /// <summary>Shards per step (a power of two ≤ batch); 0 = the default for the batch.</summary>
    public int Shards { get; init; }
    /// <summary>
    /// reset: every sequence from s_0 = 0 at random offsets (the lecture's BPTT); carry: truncated BPTT, the batch is
    /// --batch streams of consecutive windows whose states carry from step to step (Data/StreamPlan).
    /// </summary>
    public string State { get; init; } = "reset";

    // The derived values below are not part of the saved configuration ([JsonIgnore]): the saved "config" of a
    // checkpoint then has exactly the option names of `train`, and works as a --config file as it is.

    [JsonIgnore] public Activation ActivationKind => ActivationExtensions.TryParse(Activation, out var a) ? a : throw new InputException($"--activation {Activation}: expected tanh or sigmoid");
    [JsonIgnore] public Precision PrecisionKind => PrecisionExtensions.TryParse(Precision, out var p) ? p : throw new InputException($"--precision {Precision}: expected float32 or float64");
    [JsonIgnore] public bool CarriesState => State == "carry";
    [JsonIgnore] public Cell CellKind => CellExtensions.TryParse(Cell, out var c) ? c : throw new InputException($"--cell {Cell}: expected rnn, lstm or gru");
    /// <summary>The model these options describe, for a vocabulary of <paramref name="vocabSize"/> characters.</summary>
    public ModelShape ShapeFor(int vocabSize) => new(vocabSize, Hidden, CellKind, Layers);
    /// <summary>
    /// The most values one message of this run carries, which sizes every frame and tensor limit on the wire: the
    /// model's, and with --state carry also a step's carried states (batch × StateSize), which travel in the same job
    /// as the parameters.
    /// </summary>
    public int WireValues(int vocabSize)
    {
        var shape = ShapeFor(vocabSize);
        return (int)Math.Min(int.MaxValue, shape.Count + (CarriesState ? (long)Batch * shape.StateSize : 0));
    }
    [JsonIgnore] public int ShardCount => Shards > 0 ? Shards : ShardPlan.DefaultShardCount(Batch);

    /// <summary>The update rules a run may name (the coordinator's Optimizer implements each).</summary>
    public static readonly string[] Optimizers = ["sgd", "adagrad", "adam", "rmsprop"];
    public static string OptimizerList => "sgd, adagrad, adam or rmsprop";
    public static readonly string[] LrSchedules = ["constant", "step", "cosine"];

    /// <summary>Upper bounds of the sizes: far beyond any real run, low enough that no product of them overflows or exhausts memory.</summary>
    public const int MaxHidden = 8192, MaxSeq = 1_000_000, MaxBatch = 1_000_000;
    public const long MaxSteps = 1_000_000_000;
    /// <summary>BPTT keeps every state s_t of a sequence (T×d values) per core: their product is bounded too.</summary>
    public const long MaxSeqTimesHidden = 1L << 26;

    /// <summary>Throws <see cref="InputException"/> naming the first bad value.</summary>
    public void Validate()
    {
        if (Hidden <= 0) throw new InputException($"--hidden {Hidden}: must be positive");
        if (Hidden > MaxHidden) throw new InputException($"--hidden {Hidden}: must be at most {MaxHidden}");
        if (Seq <= 0) throw new InputException($"--seq {Seq}: must be positive");
        if (Seq > MaxSeq) throw new InputException($"--seq {Seq}: must be at most {MaxSeq}");
        if ((long)Seq * Hidden > MaxSeqTimesHidden) throw new InputException($"--seq {Seq}: with --hidden {Hidden}, --seq × --hidden must be at most {MaxSeqTimesHidden}");
        if (Batch <= 0) throw new InputException($"--batch {Batch}: must be positive");
        if (Batch > MaxBatch) throw new InputException($"--batch {Batch}: must be at most {MaxBatch}");
        if (Steps <= 0) throw new InputException($"--steps {Steps}: must be positive");
        if (Steps > MaxSteps) throw new InputException($"--steps {Steps}: must be at most {MaxSteps}");
        if (!(Lr > 0) || double.IsInfinity(Lr)) throw new InputException($"--lr {Lr}: must be a positive number");
        if (!(Clip >= 0) || double.IsInfinity(Clip)) throw new InputException($"--clip {Clip}: must be 0 (off) or positive");
        if (!(ValFrac >= 0 && ValFrac < 1)) throw new InputException($"--val-frac {ValFrac}: must be in [0, 1)");
        if (!Optimizers.Contains(Optimizer)) throw new InputException($"--optimizer {Optimizer}: unknown optimiser (expected {OptimizerList})");
        if (!(RmspropDecay >= 0 && RmspropDecay < 1)) throw new InputException($"--rmsprop-decay {RmspropDecay}: must be in [0, 1)");
        if (!LrSchedules.Contains(LrSchedule)) throw new InputException($"--lr-schedule {LrSchedule}: unknown schedule (expected constant, step or cosine)");
        if (!(LrDecay > 0 && LrDecay <= 1)) throw new InputException($"--lr-decay {LrDecay}: must be in (0, 1]");
        if (LrDecayAfter < 0) throw new InputException($"--lr-decay-after {LrDecayAfter}: must not be negative");
        if (LrDecayEvery < 0) throw new InputException($"--lr-decay-every {LrDecayEvery}: must not be negative");
        if (WarmupSteps < 0) throw new InputException($"--warmup-steps {WarmupSteps}: must not be negative");
        _ = ActivationKind; _ = PrecisionKind; _ = CellKind;
        if (Layers < 1 || Layers > ModelShape.MaxLayers) throw new InputException($"--layers {Layers}: must be between 1 and {ModelShape.MaxLayers}");
        if (!(Dropout >= 0 && Dropout < 1)) throw new InputException($"--dropout {Dropout}: must be in [0, 1)");
        if (CellKind != Model.Cell.Rnn && ActivationKind != Model.Activation.Tanh)
            throw new InputException($"--activation {Activation}: only the rnn cell has a choice of activation (lstm and gru use their own gates)");
        if (State is not ("reset" or "carry")) throw new InputException($"--state {State}: expected reset or carry");
        if (Shards < 0 || (Shards > 0 && !ShardPlan.IsPowerOfTwo(Shards))) throw new InputException($"--shards {Shards}: must be a power of two");
        if (ShardCount > Batch) throw new InputException($"--shards {ShardCount}: must not exceed --batch {Batch}");
    }

    /// <summary>
    /// The part of the configuration that decides the bits of the result (everything but the step count);
    /// a resumed run must match it and a worker must agree with it.
    /// </summary>
    public string Fingerprint() => JsonSerializer.Serialize(this with { Steps = 0, Corpus = null }, Json);

    public static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.KebabCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
        WriteIndented = false,
    };
}
