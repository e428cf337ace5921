using System.Numerics;
using DistRnn.Compute;
using DistRnn.Configuration;
using DistRnn.Data;
using DistRnn.Diagnostics;
using DistRnn.Model;
using DistRnn.Protocol;
using DistRnn.Reduction;

namespace DistRnn.Worker.Compute;

/// <summary>What a worker computes for a run, whatever its precision.</summary>
public interface IWorkerCompute : IDisposable
{
    /// <summary>
    /// Computes the subtrees of <paramref name="job"/> on the worker's own long-lived threads (never the thread
    /// pool, where Akka's heartbeats run), after any job submitted before, and hands each subtree's sum to
    /// <paramref name="emit"/> as soon as it is done, so sending one overlaps computing the next. Stops early
    /// when <paramref name="ct"/> is cancelled. The emitted gradient stays valid until a job of a later step starts.
    /// </summary>
    Task RunAsync(ComputeSubtrees job, Action<SubtreeResult> emit, CancellationToken ct);
}

/// <summary>
/// A worker's side of a run: its own corpus, the batch plan rebuilt from (seed, step), and the same compute engine
/// (<see cref="SubtreeComputer{T}"/>) and kernel as the single-process loop, on the worker's own threads. Each assigned
/// subtree is summed in the fixed tree order, so its bits do not depend on which thread finished first, and it is
/// sent the moment it is complete.
/// </summary>
public sealed class WorkerCompute<T> : IWorkerCompute where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly TrainConfig _config;
    private readonly int[] _tokens;
    private readonly BatchPlan _plan;
    private readonly StreamPlan? _streams;
    private readonly ModelShape _shape;
    private readonly Activation _act;
    private readonly SubtreeComputer<T> _computer;
    private readonly Subtree _root;
    private T[]? _parameters;
    private StepCarry<T>? _carry;   // --state carry: the job's initial states, and its sequences' final ones

    public WorkerCompute(TrainConfig config, Corpus corpus, int threads)
    {
        _config = config;
        _tokens = corpus.Tokens;
        _plan = BatchPlan.For(config, corpus);
        _streams = config.CarriesState ? StreamPlan.For(config, corpus) : null;
        _shape = config.ShapeFor(corpus.Vocabulary.Size);
        _act = config.ActivationKind;
        _computer = new SubtreeComputer<T>(Kernels.For<T>(_shape, config.Dropout), threads);
        _root = Subtree.Root(config.ShardCount);
    }

    /// <summary>
    /// Test knob for stragglers: every piece takes this many times its compute time, the extra as an idle wait
    /// (so a slowed worker does not take cores from the others). Changes when results arrive, never their bits.
    /// </summary>
    public double Slowdown { get; init; } = 1;

    /// <summary>
    /// A piece computed faster than this counts as this long for <see cref="Slowdown"/>: the tests pace their runs
    /// with it ("killed mid-run"), and a small model's piece can take microseconds, too little to pace anything.
    /// </summary>
    private static readonly TimeSpan SlowdownFloor = TimeSpan.FromMilliseconds(2);

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;

    public Task RunAsync(ComputeSubtrees job, Action<SubtreeResult> emit, CancellationToken ct) =>
        _computer.Submit(() => Run(job, emit, ct));

    /// <summary>On the engine's lead thread, after the jobs before it.</summary>
    private void Run(ComputeSubtrees job, Action<SubtreeResult> emit, CancellationToken ct)
    {
        StepTimeline.Mark(job.Step, StepPoint.ComputeStarted);
        // one parameter buffer for the run: jobs of a worker never overlap (the engine runs them one after another)
        _parameters ??= new T[_shape.Count];
        job.Parameters.CopyTo(_parameters);
        var p = new Tensors<T>(_shape, _parameters);
        // only nodes of this step's tree, and none inside another one of the list
        var nodes = job.Nodes.Where(n => _root.Contains(n)).Distinct().ToList();
        nodes.RemoveAll(n => nodes.Any(o => o != n && o.Contains(n)));
        Action<TimeSpan>? paced = Slowdown > 1 ? took => ct.WaitHandle.WaitOne(Max(took, SlowdownFloor) * (Slowdown - 1)) : null;
        var batch = _streams?.ForStep(job.Step) ?? _plan.ForStep(job.Step);
        var carry = CarryOf(job, batch.Length);
        _computer.Compute(job.Step, p, _act, _tokens, batch, _config.ShardCount, nodes, (node, sum) =>
        {
            StepTimeline.Mark(job.Step, StepPoint.ComputeDone);
            TensorPayload? states = null;
            if (carry is not null)
            {
                var (first, count) = SubtreeComputer<T>.SequencesOf(node, batch.Length, _config.ShardCount);
                states = TensorPayload.Wrap(carry.FinalOf(first, count).ToArray()); // small: its sequences × StateSize
            }
            emit(new SubtreeResult(job.RunId, job.Step, node, sum.Loss, sum.Chars, TensorPayload.Wrap(sum.Grad.Data), states));
        }, ct, paced, carry);
    }

    /// <summary>--state carry: the job's initial states (every sequence of the step), which the coordinator must send.</summary>
    private StepCarry<T>? CarryOf(ComputeSubtrees job, int sequences)
    {
        if (_streams is null) return null;
        if (job.States is null) throw new ProtocolException($"step {job.Step}: a --state carry job without the carried states");
        _carry ??= StepCarry<T>.For(sequences, _shape.StateSize);
        job.States.CopyTo(_carry.Initial);
        return _carry;
    }

    public void Dispose() => _computer.Dispose();
}
