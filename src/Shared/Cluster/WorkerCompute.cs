using System.Numerics;
using DistRnn.Cluster.Scheduling;
using DistRnn.Data;
using DistRnn.Model;
using DistRnn.Protocol;
using DistRnn.Training;

namespace DistRnn.Cluster;

/// <summary>What a worker computes for a run, whatever its precision.</summary>
public interface IWorkerCompute
{
    /// <summary>
    /// Computes the subtrees of <paramref name="job"/> on dedicated threads (never the thread pool, where
    /// Akka's heartbeats run) and hands each subtree's sum to <paramref name="emit"/> as soon as it is done,
    /// so sending one overlaps computing the next. Stops early when <paramref name="ct"/> is cancelled.
    /// </summary>
    void Run(ComputeSubtrees job, Action<SubtreeResult> emit, CancellationToken ct);
}

/// <summary>
/// A worker's side of a run: its own corpus, the batch plan rebuilt from (seed, step), and the same
/// <see cref="SubtreeComputer{T}"/> and kernel as the single-process loop. Its subtrees are cut into at least
/// <see cref="Threads"/> aligned pieces, which dedicated threads take in order, one core each; each
/// assigned subtree is merged from its pieces in the fixed tree order (<see cref="TreeAssembler{TValue}"/>),
/// so its bits do not depend on which thread finished first, and it is sent the moment it is complete.
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
    private T[]? _parameters;

    public WorkerCompute(TrainConfig config, Corpus corpus, int threads)
    {
        _config = config;
        _tokens = corpus.Tokens;
        _plan = TrainingSession<T>.PlanFor(config, corpus);
        _shape = new ModelShape(corpus.Vocabulary.Size, config.Hidden);
        _act = config.ActivationKind;
        _computer = new SubtreeComputer<T>(Kernels.Default<T>(), maxParallelism: 1); // one core per piece; the pieces run in parallel
        _root = Subtree.Root(config.ShardCount);
        Threads = Math.Max(1, threads);
    }

    public int Threads { get; }

    /// <summary>
    /// Test knob for stragglers: every piece takes this many times its compute time, the extra as an idle wait
    /// (so a slowed worker does not take cores from the others). Changes when results arrive, never their bits.
    /// </summary>
    public double Slowdown { get; init; } = 1;

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

    public void Run(ComputeSubtrees job, Action<SubtreeResult> emit, CancellationToken ct)
    {
        // one parameter buffer for the run: jobs of a worker never overlap (the next starts when this one returned)
        _parameters ??= new T[_shape.Count];
        job.Parameters.CopyTo(_parameters);
        var p = new Tensors<T>(_shape, _parameters);
        var batch = _plan.ForStep(job.Step);
        // only nodes of this step's tree, and none inside another one of the list
        var nodes = job.Nodes.Where(n => _root.Contains(n)).Distinct().ToList();
        nodes.RemoveAll(n => nodes.Any(o => o != n && o.Contains(n)));
        var trees = nodes.Select(n => new TreeAssembler<ShardSum<T>>(n, ShardSum<T>.Combine)).ToArray();
        var pieces = Pieces(nodes, Threads);

        int next = -1;
        void Body()
        {
            while (!ct.IsCancellationRequested)
            {
                int i = Interlocked.Increment(ref next);
                if (i >= pieces.Count) return;
                var (piece, owner) = pieces[i];
                long started = System.Diagnostics.Stopwatch.GetTimestamp();
                var sum = _computer.Compute(p, _act, _tokens, batch, _config.ShardCount, piece);
                if (Slowdown > 1) ct.WaitHandle.WaitOne(System.Diagnostics.Stopwatch.GetElapsedTime(started) * (Slowdown - 1));
                ShardSum<T>? done = null;
                lock (trees[owner])
                {
                    trees[owner].Add(piece, sum);
                    if (trees[owner].IsComplete) done = trees[owner].Result;
                }
                if (done is not null && !ct.IsCancellationRequested)
                    emit(new SubtreeResult(job.RunId, job.Step, nodes[owner], done.Loss, done.Chars, TensorPayload.Wrap(done.Grad.Data)));
            }
        }

        var threads = new Thread[Math.Max(0, Math.Min(Threads, pieces.Count) - 1)];
        Exception? failure = null;
        for (int i = 0; i < threads.Length; i++)
        {
            threads[i] = new Thread(() =>
            {
                try { Body(); }
                catch (Exception e) { failure ??= e; }
            }) { IsBackground = true, Name = $"distrnn-compute-{i + 1}" };
            threads[i].Start();
        }
        Body(); // the calling thread is a dedicated one too (see WorkerActor)
        foreach (var t in threads) t.Join();
        if (failure is not null) throw new AggregateException("a compute thread failed", failure);
    }
}
