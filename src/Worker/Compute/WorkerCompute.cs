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
/// A worker's side of a run: its own corpus, the batch plan rebuilt from (seed, step), and the same
/// <see cref="SubtreeComputer{T}"/> and kernel as the single-process loop. Its subtrees are cut into aligned
/// pieces, as many per core as the single-process loop cuts its step, which the threads of a <see cref="ComputeCrew"/>
/// take in order; the parameters are packed once per job. Each assigned subtree is merged from its pieces in the
/// fixed tree order (<see cref="TreeAssembler{TValue}"/>), so its bits do not depend on which thread finished
/// first, and it is sent the moment it is complete. Gradient buffers are pooled: nothing of the model's size is
/// allocated per step once the first steps have run.
/// </summary>
public sealed class WorkerCompute<T> : IWorkerCompute where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly TrainConfig _config;
    private readonly int[] _tokens;
    private readonly BatchPlan _plan;
    private readonly ModelShape _shape;
    private readonly Activation _act;
    private readonly SubtreeComputer<T> _computer;
    private readonly Subtree _root;
    private readonly ComputeCrew _crew;
    private readonly GradientPool _pool;
    private DistRnn.Model.Fast.PackedParams<T>? _packed;
    private T[]? _parameters;

    public WorkerCompute(TrainConfig config, Corpus corpus, int threads)
    {
        _config = config;
        _tokens = corpus.Tokens;
        _plan = BatchPlan.For(config, corpus);
        _shape = new ModelShape(corpus.Vocabulary.Size, config.Hidden);
        _act = config.ActivationKind;
        _computer = new SubtreeComputer<T>(Kernels.Default<T>(), maxParallelism: 1); // one core per piece; the pieces run in parallel
        _root = Subtree.Root(config.ShardCount);
        Threads = Math.Max(1, threads);
        _crew = new ComputeCrew(Threads, "distrnn-compute");
        _pool = new GradientPool(_shape);
    }

    public int Threads { get; }

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

    /// <summary>Cuts <paramref name="nodes"/> into at least <paramref name="minimum"/> aligned pieces (halving the largest), left to right.</summary>
    public static List<(Subtree Piece, int Owner)> Pieces(IReadOnlyList<Subtree> nodes, int minimum)
    {
        var pieces = nodes.Select((n, i) => (Piece: n, Owner: i)).ToList();
        while (pieces.Count < minimum)
        {
            int largest = -1;
            for (int i = 0; i < pieces.Count; i++)
                if (!pieces[i].Piece.IsLeaf && (largest < 0 || pieces[i].Piece.Level > pieces[largest].Piece.Level)) largest = i;
            if (largest < 0) break;
            var (piece, owner) = pieces[largest];
            pieces[largest] = (piece.Left, owner);
            pieces.Insert(largest + 1, (piece.Right, owner));
        }
        return pieces;
    }

    public Task RunAsync(ComputeSubtrees job, Action<SubtreeResult> emit, CancellationToken ct) =>
        _crew.Submit(() => Run(job, emit, ct));

    /// <summary>On the crew's lead thread: the job's pieces on all the crew's threads.</summary>
    private void Run(ComputeSubtrees job, Action<SubtreeResult> emit, CancellationToken ct)
    {
        StepTimeline.Mark(job.Step, StepPoint.ComputeStarted);
        _pool.StartStep(job.Step);
        // one parameter buffer for the run: jobs of a worker never overlap (the crew runs them one after another)
        _parameters ??= new T[_shape.Count];
        job.Parameters.CopyTo(_parameters);
        var p = new Tensors<T>(_shape, _parameters);
        _packed = _computer.Pack(p, _packed);
        var packed = _packed;
        var batch = _plan.ForStep(job.Step);
        // only nodes of this step's tree, and none inside another one of the list
        var nodes = job.Nodes.Where(n => _root.Contains(n)).Distinct().ToList();
        nodes.RemoveAll(n => nodes.Any(o => o != n && o.Contains(n)));
        var pool = _pool;
        var trees = nodes.Select(n => new TreeAssembler<ShardSum<T>>(n, (left, right) =>
        {
            var parent = ShardSum<T>.Combine(left, right);
            pool.Return(right.Grad); // added into the left one, never sent: free at once
            return parent;
        })).ToArray();
        var pieces = Pieces(nodes, Threads == 1 ? 1 : Threads * SubtreeComputer<T>.PiecesPerCore(_shape)); // as the kernel loop cuts a step

        int next = -1;
        _crew.Together(_ =>
        {
            while (!ct.IsCancellationRequested)
            {
                int i = Interlocked.Increment(ref next);
                if (i >= pieces.Count) return;
                var (piece, owner) = pieces[i];
                long started = System.Diagnostics.Stopwatch.GetTimestamp();
                var sum = _computer.ComputePiece(p, packed, _act, _tokens, batch, _config.ShardCount, piece, pool.Rent());
                if (Slowdown > 1) ct.WaitHandle.WaitOne(Max(System.Diagnostics.Stopwatch.GetElapsedTime(started), SlowdownFloor) * (Slowdown - 1));
                ShardSum<T>? done = null;
                lock (trees[owner])
                {
                    trees[owner].Add(piece, sum);
                    if (trees[owner].IsComplete) done = trees[owner].Result;
                }
                if (done is not null && !ct.IsCancellationRequested)
                {
                    StepTimeline.Mark(job.Step, StepPoint.ComputeDone);
                    emit(new SubtreeResult(job.RunId, job.Step, nodes[owner], done.Loss, done.Chars, TensorPayload.Wrap(done.Grad.Data)));
                }
            }
        });
    }

    public void Dispose() => _crew.Dispose();

    /// <summary>
    /// Gradient buffers of the model's size. One that was sent may still be being serialized after its job
    /// returned (the data channel and Akka encode later, on their own threads), so a buffer rented in step s comes
    /// back for reuse only when a job of a later step starts: by then the coordinator has finished step s (it sends
    /// step s+1 only after), so anything of step s still on its way is stale and refused by its step number, whatever
    /// bytes it carries. A buffer that was never sent (a right child added into its sibling) comes back at once.
    /// </summary>
    private sealed class GradientPool(ModelShape shape)
    {
        private readonly Stack<Tensors<T>> _free = new();
        private readonly List<Tensors<T>> _inStep = new();
        private long _step = long.MinValue;

        public void StartStep(long step)
        {
            lock (_free)
            {
                if (step <= _step) return;
                _step = step;
                foreach (var t in _inStep) _free.Push(t);
                _inStep.Clear();
            }
        }

        public Tensors<T> Rent()
        {
            lock (_free)
            {
                var t = _free.Count > 0 ? _free.Pop() : new Tensors<T>(shape);
                _inStep.Add(t);
                return t;
            }
        }

        public void Return(Tensors<T> t)
        {
            lock (_free)
            {
                if (_inStep.Remove(t)) _free.Push(t);
            }
        }
    }
}
