using System.Diagnostics;
using System.Numerics;
using DistRnn.Model;
using DistRnn.Model.Fast;
using DistRnn.Reduction;

namespace DistRnn.Compute;

/// <summary>
/// The compute engine of every path that computes gradients (the single-process loop, each worker, the
/// coordinator's verifier): "these subtrees of this step's batch" on a <see cref="ComputeCrew"/> of its own, so
/// they all give the same bits and none of them runs on the thread pool (where Akka's heartbeats run).
///
/// A job packs the parameters once, cuts its subtrees into aligned pieces (<see cref="SubtreeCutter.Pieces"/>,
/// <see cref="PiecesPerCore"/> per thread) that the crew's threads take in order, runs each piece's leaves in one
/// kernel pass (all its sequences batched into bigger products), and sums leaves and pieces in the fixed tree order
/// with <see cref="ReductionTree{TValue}"/>, the same tree the coordinator sums workers' results with. A pass keeps
/// at most log₂(leaves) + 1 gradients alive. Gradients are pooled: nothing of the model's size is allocated per step
/// once the first steps have run.
/// </summary>
public sealed class SubtreeComputer<T> : IDisposable where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly IShardKernel<T> _kernel;
    private readonly ComputeCrew _crew;
    private readonly GradientPool _pool = new();
    private readonly Func<ShardSum<T>, ShardSum<T>> _keep;
    private readonly Action<ShardSum<T>> _release;
    private PackedParams<T>? _packed;

    /// <param name="threads">the crew's threads, one per core to be used</param>
    public SubtreeComputer(IShardKernel<T> kernel, int threads, string name = "distrnn-compute")
    {
        _kernel = kernel;
        _crew = new ComputeCrew(threads, name);
        _keep = Keep;
        _release = sum => _pool.Return(sum.Grad);
    }

    public int Threads => _crew.Size;

    /// <summary>
    /// Pieces per core when several cores share a job: more pieces than cores let a core that finishes early take
    /// another (a busy machine does not give every thread the same time), fewer make bigger products. Each piece's
    /// recurrence reads all of W at every time step; once W is larger than a core's L2 it streams from L3 each time,
    /// and one bigger piece per core halves that traffic. Measurements: docs/benchmarks.md.
    /// </summary>
    public static int PiecesPerCore(ModelShape shape) =>
        (long)shape.D * shape.D * System.Runtime.CompilerServices.Unsafe.SizeOf<T>() >= 2L << 20 ? 1 : 2;

    /// <summary>Runs <paramref name="job"/> on the crew's lead thread after the jobs submitted before it.</summary>
    public Task Submit(Action job) => _crew.Submit(job);

    /// <summary>
    /// The sum over <paramref name="node"/>'s shards of step <paramref name="step"/>'s batch, computed after the jobs
    /// submitted before. The result's gradient is valid until a job of a later step starts.
    /// </summary>
    public async Task<ShardSum<T>> ComputeAsync(long step, Tensors<T> p, Activation act, int[] tokens, SequenceRef[] batch, int shardCount, Subtree node,
        CancellationToken ct = default, StepCarry<T>? carry = null)
    {
        ShardSum<T>? result = null;
        await Submit(() =>
        {
            Compute(step, p, act, tokens, batch, shardCount, [node], (_, sum) => result = sum, ct, carry: carry);
            ct.ThrowIfCancellationRequested();
        }).ConfigureAwait(false);
        return result!;
    }

    /// <summary>
    /// On the crew's lead thread (inside a <see cref="Submit"/>ted job): the sums of <paramref name="nodes"/> (aligned,
    /// disjoint subtrees of the step's tree), each handed to <paramref name="emit"/> the moment it is complete, on
    /// whichever crew thread completed it. Stops early, without emitting more, when <paramref name="ct"/> is cancelled.
    /// An emitted gradient stays valid until a job of a later step starts (it may still be on its way somewhere).
    /// <paramref name="paced"/>, when given, runs on the piece's thread after each piece with its compute time.
    /// <paramref name="carry"/> (<c>--state carry</c>): the batch's s_0, and where each computed sequence's s_T goes (a
    /// node's final states are all in <see cref="StepCarry{T}.Final"/> when it is emitted).
    /// </summary>
    public void Compute(long step, Tensors<T> p, Activation act, int[] tokens, SequenceRef[] batch, int shardCount, IReadOnlyList<Subtree> nodes,
        Action<Subtree, ShardSum<T>> emit, CancellationToken ct = default, Action<TimeSpan>? paced = null, StepCarry<T>? carry = null)
    {
        if (carry is not null && (carry.StateSize != p.Shape.StateSize || carry.Sequences != batch.Length))
            throw new ArgumentException($"carried states for {carry.Sequences} sequences of size {carry.StateSize}, the step has {batch.Length} of {p.Shape.StateSize}");
        _pool.StartStep(step, p.Shape);
        _packed = _kernel.Pack(p, gradients: true, _packed);
        var packed = _packed;
        var trees = new ReductionTree<ShardSum<T>>[nodes.Count];
        for (int i = 0; i < trees.Length; i++) trees[i] = new ReductionTree<ShardSum<T>>(nodes[i], ShardSum<T>.Combine, _release);
        var pieces = SubtreeCutter.Pieces(nodes, Threads == 1 ? 1 : Threads * PiecesPerCore(p.Shape));

        int next = -1;
        _crew.Together(_ =>
        {
            while (!ct.IsCancellationRequested)
            {
                int i = Interlocked.Increment(ref next);
                if (i >= pieces.Count) return;
                var (piece, owner) = pieces[i];
                long started = Stopwatch.GetTimestamp();
                var sum = Pass(p, packed, act, tokens, batch, shardCount, piece, carry);
                paced?.Invoke(Stopwatch.GetElapsedTime(started));
                ShardSum<T>? done = null;
                var tree = trees[owner];
                lock (tree)
                {
                    tree.Offer(piece, sum);
                    if (tree.IsComplete) done = tree.Result;
                }
                if (done is not null && !ct.IsCancellationRequested) emit(nodes[owner], done);
            }
        });
    }

    /// <summary>All leaves of <paramref name="piece"/> in one kernel pass, summed in the tree's order as they come.</summary>
    private ShardSum<T> Pass(Tensors<T> p, PackedParams<T>? packed, Activation act, int[] tokens, SequenceRef[] batch, int shardCount, Subtree piece, StepCarry<T>? carry)
    {
        int first = piece.First, count = piece.Count;
        int from = ShardStart(batch.Length, first, shardCount);
        Span<int> bounds = count <= 256 ? stackalloc int[count + 1] : new int[count + 1];
        for (int j = 0; j <= count; j++) bounds[j] = ShardStart(batch.Length, first + j, shardCount) - from;
        var sink = new LeafSink(new ReductionTree<ShardSum<T>>(piece, ShardSum<T>.Combine, _release), first, _keep);
        _kernel.Run(p, act, tokens, batch.AsSpan(from, bounds[count]), bounds, gradients: true, ref sink, packed,
            carry is null ? default : carry.Slice(from, bounds[count]));
        return sink.Tree.Result;
    }

    /// <summary>The batch's sequences [first, first + count) of <paramref name="node"/>: shard j holds sequences [⌊j·B/S⌋, ⌊(j+1)·B/S⌋).</summary>
    public static (int First, int Count) SequencesOf(Subtree node, int batchLength, int shardCount)
    {
        int from = ShardStart(batchLength, node.First, shardCount);
        return (from, ShardStart(batchLength, node.First + node.Count, shardCount) - from);
    }

    private static int ShardStart(int batchLength, int shard, int shardCount) => (int)((long)shard * batchLength / shardCount);

    /// <summary>A copy of a leaf whose gradient is the kernel's scratch, in a pooled buffer.</summary>
    private ShardSum<T> Keep(ShardSum<T> leaf)
    {
        var grad = _pool.Rent();
        leaf.Grad.Data.AsSpan().CopyTo(grad.Data);
        return new ShardSum<T>(grad, leaf.Loss, leaf.Chars);
    }

    /// <summary>Offers each leaf of a pass, in order, to the piece's tree.</summary>
    private readonly struct LeafSink(ReductionTree<ShardSum<T>> tree, int first, Func<ShardSum<T>, ShardSum<T>> keep) : IShardSink<T>
    {
        public ReductionTree<ShardSum<T>> Tree => tree;

        public void OnShard(int shard, Tensors<T>? grad, double loss, long chars) =>
            tree.Offer(new Subtree(0, first + shard), new ShardSum<T>(grad!, loss, chars), keep);
    }

    /// <summary>
    /// The buffers of step <paramref name="step"/>'s results, as a lease: disposing it (the caller has finished with
    /// every sum of the step) frees them for reuse at once rather than when a job of a later step starts.
    /// </summary>
    public IDisposable LeaseOf(long step) => new StepRelease(_pool, step);

    private sealed class StepRelease(GradientPool pool, long step) : IDisposable
    {
        private int _done;
        public void Dispose() { if (Interlocked.Exchange(ref _done, 1) == 0) pool.Release(step); }
    }

    /// <summary>No new jobs; the crew's threads end after the job in progress.</summary>
    public void Dispose() => _crew.Dispose();

    /// <summary>
    /// Gradient buffers of the model's size. One that was emitted may still be in use after its job returned (a
    /// worker's data channel and Akka encode later, on their own threads; the single-process loop applies it), so a
    /// buffer rented in step s comes back for reuse only when a job of a later step starts: by then whoever asked for
    /// step s has finished with it (a coordinator sends step s+1 only after, and anything of step s still on its way
    /// is stale and refused by its step number, whatever bytes it carries). A buffer the tree let go of (a right child
    /// added into its sibling) comes back at once.
    /// </summary>
    private sealed class GradientPool
    {
        private readonly Stack<Tensors<T>> _free = new();
        private readonly List<Tensors<T>> _inStep = new();
        private long _step = long.MinValue;
        private ModelShape? _shape;

        public void StartStep(long step, ModelShape shape)
        {
            lock (_free)
            {
                if (shape != _shape)
                {
                    _free.Clear();
                    _shape = shape;
                }
                if (step <= _step) return;
                _step = step;
                foreach (var t in _inStep)
                    if (t.Shape == _shape) _free.Push(t);
                _inStep.Clear();
            }
        }

        /// <summary>Step <paramref name="step"/>'s buffers are no longer used by anyone (a lease was disposed).</summary>
        public void Release(long step)
        {
            lock (_free)
            {
                if (step != _step) return; // a later step started: they came back already
                foreach (var t in _inStep)
                    if (t.Shape == _shape) _free.Push(t);
                _inStep.Clear();
            }
        }

        public Tensors<T> Rent()
        {
            lock (_free)
            {
                var t = _free.Count > 0 ? _free.Pop() : new Tensors<T>(_shape!);
                _inStep.Add(t);
                return t;
            }
        }

        public void Return(Tensors<T> t)
        {
            lock (_free)
            {
                if (_inStep.Remove(t) && t.Shape == _shape) _free.Push(t);
            }
        }
    }
}
