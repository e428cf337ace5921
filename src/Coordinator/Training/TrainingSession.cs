using System.Numerics;
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
    public int ShardCount { get; }
    public int TrainLength { get; }

    /// <summary>Optimiser steps completed (skipped non-finite steps count, so the data order never shifts).</summary>
    public long Step { get; private set; }
    public int SkippedSteps { get; private set; }
    public int ConsecutiveBadSteps { get; private set; }
    public double BestValLoss { get; set; } = double.PositiveInfinity;

    public TrainingSession(TrainConfig config, Corpus corpus, Tensors<T>? parameters = null, Optimizer<T>? optimizer = null, long step = 0)
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
    }

    public void RestoreCounters(int skipped, int consecutiveBad, double bestVal)
    {
        SkippedSteps = skipped; ConsecutiveBadSteps = consecutiveBad; BestValLoss = bestVal;
    }

    public SequenceRef[] BatchFor(long step) => Plan.ForStep(step);

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
