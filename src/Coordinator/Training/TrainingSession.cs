using System.Numerics;
using DistRnn.Compute;
using DistRnn.Configuration;
using DistRnn.Data;
using DistRnn.Model;
using DistRnn.Reduction;

namespace DistRnn.Coordinator.Training;

/// <summary>What one optimiser step did; LearningRate is the step's lr_t (applied, or that a skipped step would have applied).</summary>
public sealed record StepOutcome(long Step, double Loss, long Chars, double GradNorm, bool Skipped, double LearningRate);

/// <summary>The update stopped because gradients stayed non-finite for too many steps in a row.</summary>
public sealed class DivergedException(string message) : Exception(message);

/// <summary>
/// The state of a run and the update rule, free of any transport: parameters, optimiser, step, and the
/// plan of which sequences each step uses. The single-process loop and the cluster coordinator both
/// drive this one class, so they produce the same bits.
/// </summary>
public sealed class TrainingSession<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Non-finite steps in a row after which the run stops.</summary>
    public const int MaxConsecutiveBadSteps = 5;

    public TrainConfig Config { get; }
    public Corpus Corpus { get; }
    public Tensors<T> Params { get; }
    public Optimizer<T> Optimizer { get; }
    public LearningRateSchedule Schedule { get; }
    public Activation Activation { get; }
    public BatchPlan Plan { get; }
    /// <summary>--state carry: which window of which stream each step holds; null with --state reset.</summary>
    public StreamPlan? Streams { get; }
    /// <summary>--state carry: each stream's final state after step <see cref="Step"/> (streams × StateSize; saved in checkpoints); null with --state reset.</summary>
    public T[]? CarriedStates { get; }
    private readonly StepCarry<T>? _carry;
    public int ShardCount { get; }
    public int TrainLength { get; }

    /// <summary>Optimiser steps completed (skipped non-finite steps count, so the data order never shifts).</summary>
    public long Step { get; private set; }
    public int SkippedSteps { get; private set; }
    public int ConsecutiveBadSteps { get; private set; }
    public double BestValLoss { get; set; } = double.PositiveInfinity;

    public TrainingSession(TrainConfig config, Corpus corpus, Tensors<T>? parameters = null, Optimizer<T>? optimizer = null, long step = 0, T[]? carriedStates = null)
    {
        config.Validate();
        Config = config;
        Corpus = corpus;
        Activation = config.ActivationKind;
        var shape = config.ShapeFor(corpus.Vocabulary.Size);
        Params = parameters ?? Initializer.Uniform<T>(shape, config.Seed);
        Optimizer = optimizer ?? Optimizer<T>.Create(config, shape.Count);
        TrainLength = corpus.SplitIndex(config.ValFrac);
        Schedule = new LearningRateSchedule(config, TrainLength);
        Plan = BatchPlan.For(config, corpus);
        ShardCount = config.ShardCount;
        Step = step;
        if (config.CarriesState)
        {
            Streams = StreamPlan.For(config, corpus);
            int n = shape.StateSize;
            if (carriedStates is not null && carriedStates.Length != config.Batch * n)
                throw new ArgumentException($"carried states of {carriedStates.Length} values, expected {config.Batch} × {n}");
            CarriedStates = carriedStates ?? new T[config.Batch * n];
            _carry = StepCarry<T>.For(config.Batch, n);
        }
    }

    public void RestoreCounters(int skipped, int consecutiveBad, double bestVal)
    {
        SkippedSteps = skipped; ConsecutiveBadSteps = consecutiveBad; BestValLoss = bestVal;
    }

    public SequenceRef[] BatchFor(long step) => Streams?.ForStep(step) ?? Plan.ForStep(step);

    /// <summary>
    /// --state carry: step <paramref name="step"/>'s (the next step's) carried states — s_0 of each stream from
    /// <see cref="CarriedStates"/> (zero where the plan starts it fresh) and room for the final ones, which the gradient
    /// source fills and <see cref="Apply"/> takes over. Null with --state reset. The same buffers every step.
    /// </summary>
    public StepCarry<T>? CarryFor(long step)
    {
        if (_carry is null) return null;
        if (step != Step + 1) throw new InvalidOperationException($"the carried states are those of step {Step + 1}, not {step}");
        Streams!.InitialStates<T>(step, CarriedStates, _carry.Initial, _carry.StateSize);
        Array.Clear(_carry.Final);
        return _carry;
    }

    /// <summary>
    /// Applies the reduced sum of a step: mean over predicted characters, finiteness check, clip, optimiser at
    /// the schedule's rate for this step. A pure function of (parameters, optimiser state, step, sum).
    /// A non-finite gradient skips the update (the step still counts); too many in a row throw.
    /// </summary>
    public StepOutcome Apply(ShardSum<T> sum)
    {
        var g = sum.Grad.Data;
        T inv = T.One / T.CreateTruncating(sum.Chars);
        for (int i = 0; i < g.Length; i++) g[i] *= inv;
        Step++;
        _carry?.Final.CopyTo(CarriedStates!, 0);   // the streams go on from here whether or not the update is skipped
        double lr = Schedule.At(Step);
        double loss = sum.Loss / sum.Chars;
        if (!sum.Grad.AllFinite() || !double.IsFinite(loss))
        {
            SkippedSteps++;
            ConsecutiveBadSteps++;
            if (ConsecutiveBadSteps >= MaxConsecutiveBadSteps)
                throw new DivergedException($"gradients were NaN or infinite for {ConsecutiveBadSteps} steps in a row (last at step {Step}); the learning rate {lr} is probably too large");
            return new StepOutcome(Step, loss, sum.Chars, double.NaN, Skipped: true, lr);
        }
        ConsecutiveBadSteps = 0;
        double norm = GradientClipper.Clip<T>(g, Config.Clip);
        Optimizer.Step(Params.Data, g, lr);
        // A finite gradient can still overflow the parameters (a far too large learning rate); nothing
        // after that is worth keeping, so stop before any checkpoint records them.
        if (!Params.AllFinite())
            throw new DivergedException($"the parameters overflowed to infinity or NaN at step {Step}; the learning rate {lr} is far too large");
        return new StepOutcome(Step, loss, sum.Chars, norm, Skipped: false, lr);
    }

    /// <summary>Consecutive windows of the validation part (s_0 = 0 each), at most <paramref name="maxWindows"/> evenly spread (0 = all).</summary>
    public SequenceRef[] ValidationWindows(int maxWindows)
    {
        var all = BatchPlan.Windows(TrainLength, Corpus.Tokens.Length, Config.Seq);
        if (maxWindows <= 0 || all.Length <= maxWindows) return all;
        var pick = new SequenceRef[maxWindows];
        for (int i = 0; i < maxWindows; i++) pick[i] = all[(int)((long)i * all.Length / maxWindows)];
        return pick;
    }

    public string ParamsSha256() => ParamsHash.Sha256(Params);
}
