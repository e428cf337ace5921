using System.Numerics;
using DistRnn.Protocol;
using DistRnn.Reduction;

namespace DistRnn.Coordinator.Scheduling;

/// <summary>
/// The coordinator's side of one step on the tree data plane, free of actors: the epochs of the step's plan (a new one
/// on every re-plan), the parameters cut into the chunks that go to the root's owner, and the root's sum gathered chunk
/// by chunk from the root's owners. A root chunk counts only from the worker that owned the root in the epoch it
/// names (any epoch of this step: every epoch's root has the same bits); a copy loses to the first. The assembled root
/// then takes the one path of every result (<see cref="StepRound{TWorker,T}.OfferRoot"/>), which checks, with --state
/// carry, the batch's final states that came with chunk 0. Not thread-safe.
/// </summary>
public sealed class RootGather<TWorker, T> where TWorker : notnull where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly string _runId;
    private readonly long _step;
    private readonly Subtree _root;
    private readonly ChunkLayout _layout;
    private readonly Dictionary<int, TWorker> _rootOwners = new();
    private readonly T[] _sum;
    private readonly bool[] _have;
    private int _count;
    private double _loss;
    private long _chars;
    private TensorPayload? _states;
    private bool _done;

    public RootGather(string runId, long step, Subtree root, int modelValues)
    {
        _runId = runId;
        _step = step;
        _root = root;
        _layout = ChunkLayout.For(modelValues, TensorPayload.PrecisionBytes<T>());
        _sum = new T[modelValues];
        _have = new bool[_layout.Count];
    }

    /// <summary>The latest epoch (0 before the first plan).</summary>
    public int Epoch { get; private set; }
    public RelayPlan<TWorker>? Plan { get; private set; }

    /// <summary>
    /// A new epoch's plan over what the workers hold now (disjoint pieces covering the root). The root is gathered
    /// afresh: one assembled before was not taken (excluded as malformed, or its recomputation failed), else the step
    /// would be over.
    /// </summary>
    public RelayPlan<TWorker> Replan(IEnumerable<Assignment<TWorker>> holdings)
    {
        Plan = RelayPlan<TWorker>.For(holdings.Select(a => (a.Worker, a.Nodes)), _root, ++Epoch);
        _rootOwners[Epoch] = Plan.RootOwner;
        Array.Clear(_have);
        _count = 0;
        _done = false;
        return Plan;
    }

    /// <summary>The step's parameters as the chunks that go to the root's owner.</summary>
    public List<TreeParameters> ParameterChunks(T[] parameters)
    {
        var chunks = new List<TreeParameters>(_layout.Count);
        for (int k = 0; k < _layout.Count; k++) chunks.Add(new TreeParameters(_runId, _step, k, TensorPayload.Wrap(_layout.Slice<T>(parameters, k))));
        return chunks;
    }

    /// <summary>One chunk of the root's sum; the whole root (once, as a result from <paramref name="sender"/>) when it is the last one missing.</summary>
    public SubtreeResult? Offer(TWorker sender, TreeSum m)
    {
        if (_done || m.RunId != _runId || m.Step != _step || m.Node != _root) return null;
        if (!_rootOwners.TryGetValue(m.Epoch, out var owner) || !EqualityComparer<TWorker>.Default.Equals(owner, sender)) return null;
        if (m.Values.Precision != TensorPayload.PrecisionOf<T>() || !_layout.Valid(m.Chunk, m.Values.Count) || _have[m.Chunk]) return null;
        var into = new T[m.Values.Count];
        m.Values.CopyTo(into);
        into.CopyTo(_sum, _layout.Start(m.Chunk));
        _have[m.Chunk] = true;
        // --state carry: the batch's final states come with chunk 0 (copied: the message may be a frame's buffer)
        if (m.Chunk == 0) (_loss, _chars, _states) = (m.Loss, m.Chars, m.States?.Detached());
        if (++_count < _have.Length) return null;
        _done = true;
        return new SubtreeResult(_runId, _step, _root, _loss, _chars, TensorPayload.Wrap(_sum), _states);
    }
}
