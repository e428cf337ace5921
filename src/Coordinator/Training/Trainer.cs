using System.Diagnostics;
using System.Numerics;
using DistRnn.Coordinator.Checkpoints;
using DistRnn.Model;
using DistRnn.Reduction;

namespace DistRnn.Coordinator.Training;

/// <summary>One logged step, as shown to the user and written to metrics.jsonl.</summary>
public sealed record StepReport(
    long Step, long TotalSteps, double Loss, double? ValLoss, double CharsPerSecond, int Workers,
    double LearningRate, double GradNorm, bool Skipped, TimeSpan Elapsed, TimeSpan? Eta);

public sealed record TrainResult(long Step, double TrainLoss, double ValLoss, string ParamsSha256, bool Interrupted, string? LastCheckpoint);

/// <summary>What a run reports as it goes; the CLI turns it into progress lines, JSON, metrics and plots.</summary>
public interface ITrainingObserver
{
    void OnStep(StepReport report);
    void OnCheckpoint(string path, long step, bool isBest);
    void OnWarning(string message);
}

public sealed record TrainOptions
{
    public required string OutDir { get; init; }
    public int CheckpointEvery { get; init; } = 250;
    /// <summary>Validation every this many steps (0 = with each checkpoint).</summary>
    public int EvalEvery { get; init; }
    /// <summary>Windows of the validation split used for the periodic validation loss (0 = all).</summary>
    public int ValWindows { get; init; } = 128;
    public int KeepCheckpoints { get; init; } = 5;
    public int Parallelism { get; init; } = Environment.ProcessorCount;
    /// <summary>Saved in every checkpoint, so that a resume needs nothing but --resume; null: none saved.</summary>
    public RunSettings? Run { get; init; }
}

/// <summary>
/// The training loop shared by the single-process path and the cluster: ask the gradient source for a
/// step's reduced sum, apply it, report, checkpoint. Stops cleanly (checkpoint first) when cancelled.
/// </summary>
public sealed class Trainer<T>(TrainingSession<T> session, IGradientSource<T> source, IShardKernel<T> kernel, TrainOptions options, ITrainingObserver observer)
    where T : unmanaged, IFloatingPointIeee754<T>
{
    public async Task<TrainResult> RunAsync(CancellationToken ct)
    {
        var cfg = session.Config;
        int evalEvery = options.EvalEvery > 0 ? options.EvalEvery : options.CheckpointEvery;
        var clock = Stopwatch.StartNew();
        long firstStep = session.Step;
        long charsSinceStart = 0;
        double lastLoss = double.NaN;
        double? lastVal = null;
        string? lastCheckpoint = null;
        bool interrupted = false;

        while (session.Step < cfg.Steps)
        {
            if (ct.IsCancellationRequested) { interrupted = true; break; }
            long step = session.Step + 1;
            var batch = session.BatchFor(step);
            var stepClock = Stopwatch.StartNew();
            StepOutcome outcome;
            try
            {
                using var sum = await source.ComputeAsync(step, session.Params, batch, session.CarryFor(step), ct).ConfigureAwait(false);
                outcome = session.Apply(sum.Sum); // then the sum's buffers go back to their pool
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested) { interrupted = true; break; }
            if (outcome.Skipped) observer.OnWarning($"warning: step {outcome.Step} skipped: the gradient has NaN or infinite values ({session.SkippedSteps} skipped so far)");
            else lastLoss = outcome.Loss;
            charsSinceStart += outcome.Chars;

            double? val = null;
            bool last = session.Step == cfg.Steps;
            if (session.Step % evalEvery == 0 || last)
            {
                // The last step measures the whole validation split, so the final report, the checkpoint and
                // the done event agree with `eval`; periodic ones use an evenly spread subset for speed.
                val = ValidationLoss(last ? 0 : options.ValWindows);
                lastVal = val;
            }
            double elapsed = clock.Elapsed.TotalSeconds;
            double stepsDone = session.Step - firstStep;
            TimeSpan? eta = stepsDone > 0 ? TimeSpan.FromSeconds(elapsed / stepsDone * (cfg.Steps - session.Step)) : null;
            observer.OnStep(new StepReport(session.Step, cfg.Steps, outcome.Loss, val,
                elapsed > 0 ? charsSinceStart / elapsed : 0, source.Workers, outcome.LearningRate, outcome.GradNorm,
                outcome.Skipped, clock.Elapsed, eta));

            if (session.Step % options.CheckpointEvery == 0 || last)
                lastCheckpoint = WriteCheckpoint(lastLoss, val);
        }

        if (interrupted && session.Step > firstStep) lastCheckpoint = WriteCheckpoint(lastLoss, lastVal);
        double finalVal = interrupted ? lastVal ?? double.NaN : lastVal ?? ValidationLoss(0);
        return new TrainResult(session.Step, lastLoss, finalVal, session.ParamsSha256(), interrupted, lastCheckpoint);
    }

    private double ValidationLoss(int windows)
    {
        var w = session.ValidationWindows(windows);
        if (w.Length == 0) return double.NaN;
        return Evaluator.Evaluate(kernel, session.Params, session.Activation, session.Corpus.Tokens, w, options.Parallelism).Loss;
    }

    private string WriteCheckpoint(double trainLoss, double? val)
    {
        var path = CheckpointStore.PathFor(options.OutDir, session.Step);
        bool best = val is double v && v < session.BestValLoss;
        if (best) session.BestValLoss = val!.Value;
        double? train = double.IsNaN(trainLoss) ? null : trainLoss;
        // best.bin first: the step checkpoint records the best loss, so a crash between the two writes must
        // leave a best.bin holding it (at worst one better than the newest checkpoint knows), never the reverse.
        if (best) Checkpoint.Save(session, Path.Combine(options.OutDir, CheckpointStore.BestName), train, val, options.Run);
        Checkpoint.Save(session, path, train, val, options.Run);
        CheckpointStore.Prune(options.OutDir, options.KeepCheckpoints);
        observer.OnCheckpoint(path, session.Step, best);
        return path;
    }
}
