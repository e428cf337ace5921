using System.Numerics;
using DistRnn.Model;
using DistRnn.Protocol;
using DistRnn.Reduction;

namespace DistRnn.Worker.Node;

/// <summary>What the tree relay asks its actor to do after an event.</summary>
public sealed class RelayOut<TPeer> where TPeer : notnull
{
    /// <summary>Sums to send: to a worker, or (<c>ToCoordinator</c>) the root's chunks to the coordinator.</summary>
    public List<(TPeer? To, bool ToCoordinator, TreeSum Sum)> Sums { get; } = new();
    public List<(TPeer To, TreeParameters Chunk)> Parameters { get; } = new();
    /// <summary>Pieces to compute now, with the step's parameters; null: nothing.</summary>
    public ComputeSubtrees? Compute { get; set; }
}

/// <summary>A worker's side of the tree data plane, whatever the run's precision (see <see cref="TreeRelay{TPeer,T}"/>).</summary>
public interface ITreeRelay<TPeer> where TPeer : notnull
{
    long Step { get; }
    int ShardCount { get; }
    /// <param name="states">--state carry: the s_0 of the step's whole batch (batch × StateSize), from the plan</param>
    RelayOut<TPeer> Plan(long step, RelayPlan<TPeer> plan, TPeer me, TensorPayload? states = null);
    RelayOut<TPeer> Parameters(TreeParameters m);
    RelayOut<TPeer> Sum(TreeSum m);
    /// <summary>A piece this worker computed; its gradient must be the relay's to keep (see <see cref="Detach"/>).</summary>
    RelayOut<TPeer> PieceComputed(SubtreeResult piece);
    /// <summary>Everything of the current epoch already sent to <paramref name="peer"/>, again (the link it went over broke).</summary>
    RelayOut<TPeer> Again(TPeer peer);
    /// <summary>A copy of a computed piece whose gradient outlives the compute engine's buffer (thread-safe: called on the compute thread).</summary>
    SubtreeResult Detach(SubtreeResult piece);
}

public static class TreeRelay
{
    /// <param name="batch">the step's sequences</param>
    /// <param name="stateSize">--state carry: the values of one sequence's state (ModelShape.StateSize); 0 with --state reset</param>
    public static ITreeRelay<TPeer> For<TPeer>(Precision precision, string runId, int modelValues, int shardCount, int batch = 0, int stateSize = 0) where TPeer : notnull =>
        precision == Precision.Float32
            ? new TreeRelay<TPeer, float>(runId, modelValues, Subtree.Root(shardCount), batch, stateSize)
            : new TreeRelay<TPeer, double>(runId, modelValues, Subtree.Root(shardCount), batch, stateSize);
}

/// <summary>
/// A worker's side of the tree data plane, as plain logic (the actor sends what it returns): the step's parameters as
/// they come down the plan (each chunk forwarded on at once), the worker's own computed pieces (kept for the whole step
/// by node, so a re-plan recomputes only what was lost), and one <see cref="ReductionTree{TValue}"/> per top the worker
/// owns and per chunk, into which its pieces and the sums it receives go; a top's chunk leaves for the owner of its
/// parent (the coordinator for the root) the moment it is complete. Only the current step's latest epoch counts: a
/// sum of an older epoch or step is ignored, one of a newer epoch waits (bounded) for its plan; a duplicate loses to
/// the first copy. With --state carry the plan brings the batch's initial states, each piece is computed from its
/// sequences' ones, and a node's final states travel up with its chunk 0 (the left child's, then the right child's: the
/// root's are the whole batch's in order). Not thread-safe: one actor owns it.
/// </summary>
public sealed class TreeRelay<TPeer, T> : ITreeRelay<TPeer> where TPeer : notnull where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>One chunk of a node's sum; only chunk 0 carries the loss, the characters and (--state carry) the final states.</summary>
    private sealed class Part(T[] values, double loss, long chars, T[]? states)
    {
        public T[] Values { get; } = values;
        public double Loss { get; private set; } = loss;
        public long Chars { get; private set; } = chars;
        public T[]? States { get; private set; } = states;

        /// <summary>
        /// Parent = left + right, elementwise into left's buffer, as <see cref="ShardSum{T}.Combine"/> does for whole
        /// tensors; the parent's final states are the left child's sequences', then the right child's.
        /// </summary>
        public static Part Combine(Part left, Part right)
        {
            var a = left.Values; var b = right.Values;
            for (int i = 0; i < a.Length; i++) a[i] += b[i];
            left.Loss += right.Loss;
            left.Chars += right.Chars;
            if (left.States is not null && right.States is not null) left.States = [.. left.States, .. right.States];
            return left;
        }
    }

    private readonly string _runId;
    private readonly ChunkLayout _layout;
    private readonly Subtree _root;
    private readonly Precision _precision = TensorPayload.PrecisionOf<T>();
    private readonly int _batch;
    private readonly int _stateSize;

    private long _step = -1;
    private T[]?[] _parameters = [];
    private int _parameterChunks;
    private bool _computeAsked;
    private TensorPayload? _initialStates;
    private readonly Dictionary<Subtree, (T[] Grad, double Loss, long Chars, T[]? States)> _own = new();
    private readonly HashSet<Subtree> _requested = new();
    private RelayPlan<TPeer>? _plan;
    private TPeer? _me;
    private readonly Dictionary<Subtree, ReductionTree<Part>[]> _trees = new();
    private readonly HashSet<(Subtree, int)> _sent = new();
    private readonly List<TreeSum> _early = new();

    /// <param name="batch">the step's sequences (needed with --state carry only)</param>
    /// <param name="stateSize">--state carry: the values of one sequence's state; 0: the run carries none</param>
    public TreeRelay(string runId, int modelValues, Subtree root, int batch = 0, int stateSize = 0)
    {
        if (stateSize < 0 || (stateSize > 0 && batch < root.Count)) throw new ArgumentException($"carried states of {stateSize} values for a batch of {batch} sequences in {root.Count} shards");
        _runId = runId;
        _layout = ChunkLayout.For(modelValues, TensorPayload.PrecisionBytes<T>());
        _root = root;
        _batch = batch;
        _stateSize = stateSize;
    }

    private bool Carries => _stateSize > 0;

    /// <summary>How many values of final states <paramref name="node"/>'s chunk <paramref name="chunk"/> must carry (0: none).</summary>
    private int StatesOf(Subtree node, int chunk) =>
        !Carries || chunk != 0 ? 0 : DistRnn.Compute.SubtreeComputer<T>.SequencesOf(node, _batch, _root.Count).Count * _stateSize;

    /// <summary>A payload holds exactly the states <paramref name="expected"/> asks for (none for 0), in this run's precision.</summary>
    private bool StatesFit(TensorPayload? states, int expected) =>
        expected == 0 ? states is null : states is not null && states.Count == expected && states.Precision == _precision;

    public long Step => _step;
    public int ShardCount => _root.Count;
    public int Epoch => _plan?.Epoch ?? -1;
    /// <summary>Sums of a newer epoch kept until its plan comes: at most one per node and chunk of the tree, twice over.</summary>
    private int EarlyLimit => 2 * _layout.Count * (2 * _root.Count - 1);

    /// <summary>The coordinator's plan of an epoch of <paramref name="step"/>; <paramref name="me"/>: this worker in it.</summary>
    public RelayOut<TPeer> Plan(long step, RelayPlan<TPeer> plan, TPeer me, TensorPayload? states = null)
    {
        var o = new RelayOut<TPeer>();
        if (step < _step || plan.Root != _root || !StatesFit(states, Carries ? _batch * _stateSize : 0)) return o;
        if (step > _step) NewStep(step);
        if (_plan is not null && plan.Epoch <= _plan.Epoch) return o;
        _plan = plan;
        // every epoch of a step has the same initial states (the step's plan); the first copy is kept
        if (states is not null && _initialStates is null) _initialStates = TensorPayload.Wrap(states.ToArray<T>());
        _me = me;
        _trees.Clear();
        _sent.Clear();
        foreach (var top in plan.TopsOf(me))
        {
            var trees = new ReductionTree<Part>[_layout.Count];
            for (int k = 0; k < trees.Length; k++) trees[k] = new ReductionTree<Part>(top, Part.Combine);
            _trees[top] = trees;
        }
        foreach (var (node, sum) in _own) OfferOwn(node, sum.Grad, sum.Loss, sum.Chars, sum.States);
        var waiting = _early.Where(s => s.Epoch == plan.Epoch).ToList();
        _early.RemoveAll(s => s.Epoch <= plan.Epoch);
        foreach (var s in waiting) OfferSum(s);
        // whatever of the parameters is here already goes on to this epoch's receivers
        foreach (var to in plan.ParametersTo(me))
            for (int k = 0; k < _parameters.Length; k++)
                if (_parameters[k] is T[] chunk) o.Parameters.Add((to, new TreeParameters(_runId, _step, k, TensorPayload.Wrap(chunk))));
        _computeAsked = false;
        AskCompute(o);
        Emit(o);
        return o;
    }

    /// <summary>A chunk of the step's parameters (from the coordinator or the worker above this one).</summary>
    public RelayOut<TPeer> Parameters(TreeParameters m)
    {
        var o = new RelayOut<TPeer>();
        if (m.RunId != _runId || m.Step < _step) return o;
        if (m.Values.Precision != _precision || !_layout.Valid(m.Chunk, m.Values.Count)) return o;
        if (m.Step > _step) NewStep(m.Step);
        if (_parameters[m.Chunk] is not null) return o; // a copy (a re-plan sends them again): the first is kept
        var chunk = new T[m.Values.Count];
        m.Values.CopyTo(chunk);
        _parameters[m.Chunk] = chunk;
        _parameterChunks++;
        if (_plan is not null)
            foreach (var to in _plan.ParametersTo(_me!)) o.Parameters.Add((to, new TreeParameters(_runId, _step, m.Chunk, TensorPayload.Wrap(chunk))));
        AskCompute(o);
        return o;
    }

    /// <summary>A chunk of a node's sum from another worker.</summary>
    public RelayOut<TPeer> Sum(TreeSum m)
    {
        var o = new RelayOut<TPeer>();
        if (m.RunId != _runId || m.Step < _step) return o;
        if (m.Values.Precision != _precision || !_layout.Valid(m.Chunk, m.Values.Count) || !_root.Contains(m.Node)) return o;
        if (!StatesFit(m.States, StatesOf(m.Node, m.Chunk))) return o;
        if (m.Step > _step) NewStep(m.Step); // a peer is on a newer step: this one is over
        if (_plan is null || m.Epoch > _plan.Epoch)
        {
            if (_early.Count < EarlyLimit) _early.Add(m);
            return o;
        }
        if (m.Epoch < _plan.Epoch) return o;
        OfferSum(m);
        Emit(o);
        return o;
    }

    public SubtreeResult Detach(SubtreeResult piece) => piece with
    {
        Gradient = TensorPayload.Wrap(piece.Gradient.ToArray<T>()),
        States = piece.States is null ? null : TensorPayload.Wrap(piece.States.ToArray<T>()),
    };

    public RelayOut<TPeer> PieceComputed(SubtreeResult piece)
    {
        var o = new RelayOut<TPeer>();
        var (step, node, loss, chars) = (piece.Step, piece.Node, piece.Loss, piece.Chars);
        if (piece.RunId != _runId || step != _step || piece.Gradient.Precision != _precision || piece.Gradient.Count != _layout.Values || _own.ContainsKey(node)) return o;
        if (!StatesFit(piece.States, StatesOf(node, 0))) return o;
        if (!piece.Gradient.TryGetArray<T>(out var grad)) grad = piece.Gradient.ToArray<T>();
        T[]? states = piece.States is null ? null : piece.States.TryGetArray<T>(out var s) ? s : piece.States.ToArray<T>();
        _own[node] = (grad, loss, chars, states);
        if (_plan is null) return o;
        OfferOwn(node, grad, loss, chars, states);
        Emit(o);
        return o;
    }

    private void NewStep(long step)
    {
        _step = step;
        _parameters = new T[]?[_layout.Count];
        _parameterChunks = 0;
        _computeAsked = false;
        _initialStates = null;
        _own.Clear();
        _requested.Clear();
        _plan = null;
        _trees.Clear();
        _sent.Clear();
        _early.RemoveAll(s => s.Step < step);
    }

    /// <summary>Once the plan and all the parameters are here: the pieces of this epoch neither computed nor asked for yet.</summary>
    private void AskCompute(RelayOut<TPeer> o)
    {
        if (_plan is null || _computeAsked || _parameterChunks < _parameters.Length || (Carries && _initialStates is null)) return;
        _computeAsked = true;
        var nodes = new List<Subtree>();
        foreach (var piece in _plan.PiecesOf(_me!))
        {
            var have = new ReductionTree<bool>(piece, (a, _) => a);
            foreach (var n in _own.Keys.Concat(_requested)) have.Offer(n, true);
            nodes.AddRange(have.Missing(piece));
        }
        if (nodes.Count == 0) return;
        _requested.UnionWith(nodes);
        var all = new T[_layout.Values];
        for (int k = 0; k < _parameters.Length; k++) _parameters[k]!.CopyTo(all, _layout.Start(k));
        o.Compute = new ComputeSubtrees(_runId, _step, nodes.ToArray(), TensorPayload.Wrap(all), _initialStates);
    }

    /// <summary>An own piece goes into the top that holds it, a copy per chunk (the cache stays as computed, for a re-plan).</summary>
    private void OfferOwn(Subtree node, T[] grad, double loss, long chars, T[]? states)
    {
        if (!_plan!.PiecesOf(_me!).Any(p => p.Contains(node))) return;
        var trees = TreesOf(node);
        if (trees is null) return;
        for (int k = 0; k < trees.Length; k++)
            trees[k].Offer(node, new Part(_layout.Slice<T>(grad, k), k == 0 ? loss : 0, k == 0 ? chars : 0, k == 0 ? states : null));
    }

    /// <summary>A sum this worker receives in this epoch's plan (any other node, or a copy of one present, is ignored).</summary>
    private void OfferSum(TreeSum m)
    {
        if (!_plan!.ReceivesOf(_me!).Any(r => r.Node == m.Node)) return;
        var trees = TreesOf(m.Node);
        if (trees is null || trees[m.Chunk].IsCovered(m.Node)) return;
        var values = new T[m.Values.Count];
        m.Values.CopyTo(values);
        trees[m.Chunk].Offer(m.Node, new Part(values, m.Chunk == 0 ? m.Loss : 0, m.Chunk == 0 ? m.Chars : 0, m.States?.ToArray<T>()));
    }

    /// <summary>The trees of the lowest top holding <paramref name="node"/> (a worker's tops may nest: its right piece under another's node under its root).</summary>
    private ReductionTree<Part>[]? TreesOf(Subtree node)
    {
        ReductionTree<Part>[]? found = null;
        int level = int.MaxValue;
        foreach (var (top, trees) in _trees)
            if (top.Contains(node) && top.Level < level) (found, level) = (trees, top.Level);
        return found;
    }

    /// <summary>Every complete, not yet sent chunk of a top goes to the owner of its parent (the root's to the coordinator).</summary>
    private void Emit(RelayOut<TPeer> o)
    {
        foreach (var (top, trees) in _trees)
        {
            var (to, toCoordinator) = _plan!.SendTo(top);
            for (int k = 0; k < trees.Length; k++)
                if (trees[k].IsComplete && _sent.Add((top, k))) o.Sums.Add((to, toCoordinator, SumOf(top, trees, k)));
        }
    }

    private TreeSum SumOf(Subtree top, ReductionTree<Part>[] trees, int k)
    {
        var part = trees[k].Result;
        return new TreeSum(_runId, _step, _plan!.Epoch, top, k, part.Loss, part.Chars, TensorPayload.Wrap(part.Values),
            part.States is null ? null : TensorPayload.Wrap(part.States));
    }

    /// <summary>
    /// The sums and parameter chunks of this epoch that went to <paramref name="peer"/> so far, as they were (a sent sum
    /// is never changed again); the receiver keeps the first copy of each, so sending again cannot change a bit.
    /// </summary>
    public RelayOut<TPeer> Again(TPeer peer)
    {
        var o = new RelayOut<TPeer>();
        if (_plan is null) return o;
        var same = EqualityComparer<TPeer>.Default;
        foreach (var (top, trees) in _trees)
        {
            var (to, toCoordinator) = _plan.SendTo(top);
            if (toCoordinator || !same.Equals(to!, peer)) continue;
            for (int k = 0; k < trees.Length; k++)
                if (_sent.Contains((top, k))) o.Sums.Add((to, false, SumOf(top, trees, k)));
        }
        if (_plan.ParametersTo(_me!).Any(p => same.Equals(p, peer)))
            for (int k = 0; k < _parameters.Length; k++)
                if (_parameters[k] is T[] chunk) o.Parameters.Add((peer, new TreeParameters(_runId, _step, k, TensorPayload.Wrap(chunk))));
        return o;
    }
}
