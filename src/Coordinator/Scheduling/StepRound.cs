using System.Numerics;
using DistRnn.Compute;
using DistRnn.Coordinator.Verification;
using DistRnn.Model;
using DistRnn.Protocol;
using DistRnn.Reduction;

namespace DistRnn.Coordinator.Scheduling;

/// <summary>What to do with a result a worker sent (see <see cref="StepRound{TWorker,T}.Offer"/>).</summary>
public enum ResultAction
{
    /// <summary>Nothing: another run's, an earlier step's, or a part of the tree that is already present (first copy wins).</summary>
    Ignore,
    /// <summary>Stored. <see cref="ResultDecision{T}.BackupAt"/> may ask for backup tasks; the step may now be complete.</summary>
    Accepted,
    /// <summary>Malformed or not asked for: the sender is excluded for <see cref="ResultDecision{T}.Reason"/>.</summary>
    Exclude,
    /// <summary>
    /// Well-formed but NaN or ±∞, or large enough to overflow the step's sum: recompute the node here
    /// (<see cref="ResultDecision{T}.Sent"/> holds a copy of what was sent) to tell divergence from forgery.
    /// </summary>
    Verify,
}

public readonly record struct ResultDecision<T>(ResultAction Action, string? Reason = null, ShardSum<T>? Sent = null, TimeSpan? BackupAt = null)
    where T : unmanaged, IFloatingPointIeee754<T>;

/// <summary>
/// Everything of one synchronous step on the coordinator, free of actors and clocks (times are passed in as the
/// time since the step began): the <see cref="StepState{TWorker,TValue}"/> of who holds which subtree, what was
/// given to whom and when, who has delivered, which nodes are being recomputed, the step's deadline, and the one
/// path every result takes before the model may see it — run, step, tree, assignment, shape, loss, characters and
/// precision (<see cref="GradientValidator{T}"/>), then duplicates, then the values. The coordinator actor turns the
/// decisions into messages and timers. Not thread-safe: one actor owns it.
/// </summary>
public sealed class StepRound<TWorker, T> where TWorker : notnull where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly StepState<TWorker, ShardSum<T>> _state;
    private readonly GradientValidator<T> _validator;
    private readonly SequenceRef[] _batch;
    private readonly int _shardCount;
    private readonly Func<T[]> _rent;
    private readonly BackupPolicy _backups;
    private readonly Dictionary<TWorker, HashSet<Subtree>> _given = new();
    private readonly Dictionary<TWorker, TimeSpan> _givenAt = new();
    private readonly Dictionary<TWorker, TimeSpan> _finishedAt = new();
    private readonly HashSet<Subtree> _verifying = new();
    /// <summary>Shards each worker's suspect results may still cost in recomputation this step (see <see cref="Offer"/>).</summary>
    private readonly Dictionary<TWorker, long> _recomputeLeft = new();
    private readonly LossBound _lossBound;
    private readonly Func<TWorker, string> _name;

    /// <param name="batch">the step's sequences (the training loop's plan): the character count each subtree must report</param>
    /// <param name="rent">a gradient buffer of the model's size for a result, owned by the step until the training loop has applied it</param>
    /// <param name="deadline">how long the step may wait for a worker before its pieces are handed out again</param>
    /// <param name="carry">--state carry: the batch's initial states (every job carries them) and where each accepted result's final states go</param>
    public StepRound(string runId, long step, Tensors<T> parameters, SequenceRef[] batch, int shardCount, GradientValidator<T> validator,
        BackupPolicy backups, TimeSpan deadline, Func<T[]> rent, Func<TWorker, string>? name = null, StepCarry<T>? carry = null)
    {
        Carry = carry;
        StatesPayload = carry is null ? null : TensorPayload.Wrap(carry.Initial);
        _name = name ?? (w => w.ToString()!);
        RunId = runId;
        Parameters = parameters;
        ParametersPayload = TensorPayload.Wrap(parameters.Data);
        _batch = batch;
        _shardCount = shardCount;
        _validator = validator;
        _backups = backups;
        _rent = rent;
        Deadline = deadline;
        _state = new StepState<TWorker, ShardSum<T>>(step, Subtree.Root(shardCount), ShardSum<T>.Combine);
        _lossBound = LossBound.For(parameters, validator.Dropout);
    }

    public string RunId { get; }
    public long Step => _state.Step;
    /// <summary>The step's parameter snapshot (what every job of the step carries, and what a recomputation uses).</summary>
    public Tensors<T> Parameters { get; }
    public TensorPayload ParametersPayload { get; }
    /// <summary>--state carry: the step's initial and final states (null with --state reset); a recomputation starts from the same initial ones.</summary>
    public StepCarry<T>? Carry { get; }
    /// <summary>--state carry: the initial states as every job (star) or plan (tree) carries them; null with --state reset.</summary>
    public TensorPayload? StatesPayload { get; }
    /// <summary>The step's sequences (what a recomputation runs on).</summary>
    public SequenceRef[] Batch => _batch;
    public TimeSpan Deadline { get; private set; }
    /// <summary>The step is known to diverge (a recomputed non-finite node was non-finite here too): further non-finite results are taken as sent.</summary>
    public bool Diverged { get; private set; }
    public bool IsComplete => _state.IsComplete;
    public ShardSum<T> Result => _state.Result;
    public IReadOnlyList<TWorker> Live => _state.Live;
    public Subtree Root => _state.Root;

    /// <summary>Tree data plane: what each live worker holds now (see <see cref="StepState{TWorker,TValue}.Holdings"/>).</summary>
    public List<Assignment<TWorker>> Holdings() => _state.Holdings();
    /// <summary>Every part of the tree is held by a live worker (a plan can be made).</summary>
    public bool AllAssigned => _state.Unassigned.Count == 0;

    /// <summary>Something of this step was given to the worker (its answers are not a stranger's, even after it was lost).</summary>
    public bool GaveTo(TWorker worker) => _given.ContainsKey(worker);

    public List<Subtree> Outstanding(TWorker worker) => _state.Outstanding(worker);

    /// <summary>The jobs that carry <paramref name="assignments"/>, noting what went to whom and when.</summary>
    public List<(TWorker Worker, ComputeSubtrees Job)> Give(IEnumerable<Assignment<TWorker>> assignments, TimeSpan now)
    {
        var jobs = new List<(TWorker, ComputeSubtrees)>();
        foreach (var a in assignments)
        {
            if (!_given.TryGetValue(a.Worker, out var given)) _given[a.Worker] = given = new HashSet<Subtree>();
            given.UnionWith(a.Nodes);
            _recomputeLeft[a.Worker] = _recomputeLeft.GetValueOrDefault(a.Worker) + a.Nodes.Sum(n => (long)n.Count);
            _givenAt[a.Worker] = now;
            jobs.Add((a.Worker, new ComputeSubtrees(RunId, Step, a.Nodes.ToArray(), ParametersPayload, StatesPayload)));
        }
        return jobs;
    }

    public List<Assignment<TWorker>> Start(IEnumerable<TWorker> workers)
    {
        var assignments = _state.Start(workers);
        if (_state.Live.Count == 0) WaitedForWorkers = true;
        return assignments;
    }
    /// <summary>The worker is gone: its missing pieces go to the others (and a note for the user says where).</summary>
    public (List<Assignment<TWorker>> Moved, string? Note) WorkerLost(TWorker worker)
    {
        if (IsComplete) return (new(), null);
        var moved = _state.WorkerLost(worker);
        if (_state.Live.Count == 0) WaitedForWorkers = true;
        string? note = moved.Count > 0 ? $"step {Step}: its shards go to {string.Join(", ", moved.Select(a => $"{_name(a.Worker)} ({string.Join(" ", a.Nodes)})"))}"
            : _state.Live.Count == 0 ? $"step {Step}: no worker left; waiting for one" : null;
        return (moved, note);
    }
    public List<Assignment<TWorker>> WorkerJoined(TWorker worker) => IsComplete ? new() : _state.WorkerJoined(worker);

    /// <summary>
    /// The step waited for workers at some point (none was left to give work to): its duration says nothing about how
    /// long a step takes, so the deadline policy must not learn from it.
    /// </summary>
    public bool WaitedForWorkers { get; private set; }

    /// <summary>What a worker under suspicion owes goes to the others at once as well (see <see cref="StepState{TWorker,TValue}.Suspected"/>).</summary>
    public List<Assignment<TWorker>> Suspected(TWorker worker) => _state.Suspected(worker);

    /// <summary>
    /// The worker's data channel broke: what it owes goes to the other workers at once as well (first copy wins), and a
    /// note says so; its tensors go over Akka from now on.
    /// </summary>
    public (List<Assignment<TWorker>> Again, string Note) ChannelLost(TWorker worker, string why)
    {
        var again = Suspected(worker);
        string also = again.Count == 0 ? "" : $" (step {Step}: " + string.Join(", ", again.Select(a => $"{string.Join(" ", a.Nodes)} to {_name(a.Worker)}")) + ", first result wins)";
        return (again, $"worker {_name(worker)}: its data channel broke ({why}); its tensors go over Akka from now on{also}");
    }

    /// <summary>
    /// The one path of a result: <paramref name="result"/>'s header is checked (cheap, before the tensor is read), then
    /// its values are decoded into a rented buffer and checked. A result of an earlier step, another run's, or a copy
    /// of a part already present is ignored; a malformed one, or one for a subtree not given to the sender, excludes
    /// the sender; a suspect one (non-finite, or large enough to overflow the step's sum) is to be verified; the rest is
    /// stored.
    /// <para>
    /// What a forgery can cost is bounded: a worker's suspect results are recomputed for at most as many shards as it
    /// was given this step (an honest worker answers each job once, so it never runs out; a liar is excluded at its
    /// first proven lie, and what it sends beyond its share is ignored), so a step recomputes at most the work it
    /// handed out; a piece inside one already being recomputed is not recomputed again; and once the step is known to
    /// diverge nothing more is (its sum is non-finite whatever else arrives, and the step is skipped).
    /// </para>
    /// </summary>
    public ResultDecision<T> Offer(TWorker sender, SubtreeResult result, TimeSpan now) => Offer(sender, result, now, rootOfPlan: false);

    /// <summary>
    /// Tree data plane: the root's sum, gathered from the root's owner in the step's plan (<see cref="RootGather{TWorker,T}"/>
    /// checked that). The same checks as any result, except that the root was planned for its sender rather than given,
    /// and a suspect root is recomputed whatever the sender's share (once: the root is then being recomputed).
    /// </summary>
    public ResultDecision<T> OfferRoot(TWorker rootOwner, SubtreeResult root, TimeSpan now) => Offer(rootOwner, root, now, rootOfPlan: true);

    private ResultDecision<T> Offer(TWorker sender, SubtreeResult result, TimeSpan now, bool rootOfPlan)
    {
        if (result.RunId != RunId || (rootOfPlan && result.Node != Root)) return new(ResultAction.Ignore);
        var header = _validator.CheckHeader(Step, result.Step, result.Node, rootOfPlan || WasGiven(sender, result.Node),
            GradientValidator<T>.ExpectedChars(_batch, _shardCount, result.Node), result.Loss, result.Chars, result.Gradient.Count, _lossBound);
        if (header.Kind == GradientVerdictKind.Stale) return new(ResultAction.Ignore);
        if (header.Kind == GradientVerdictKind.Reject) return new(ResultAction.Exclude, header.Reason);
        if (result.Gradient.Precision != TensorPayload.PrecisionOf<T>())
            return new(ResultAction.Exclude, $"gradient of subtree {result.Node} is {result.Gradient.Precision.Name()}, this run is {TensorPayload.PrecisionOf<T>().Name()}");
        if (_state.Check(result.Step, result.Node) != ResultVerdict.Accepted) return new(ResultAction.Ignore);
        T[]? states = null;
        if (Carry is not null)
        {
            var (first, count) = SubtreeComputer<T>.SequencesOf(result.Node, _batch.Length, _shardCount);
            if (result.States is null || result.States.Count != count * Carry.StateSize || result.States.Precision != TensorPayload.PrecisionOf<T>())
                return new(ResultAction.Exclude, $"subtree {result.Node}: expected the final states of its {count} sequences ({count * Carry.StateSize} {TensorPayload.PrecisionOf<T>().Name()} values), got {result.States?.ToString() ?? "none"}");
            states = result.States.ToArray<T>();
            if (CarriedStateCheck.Problem<T>(Parameters.Shape, _batch.AsSpan(first, count), Carry.Initial.AsSpan(first * Carry.StateSize, count * Carry.StateSize), states) is string problem) return new(ResultAction.Exclude, $"subtree {result.Node}: {problem}");
        }

        var grad = _rent();
        result.Gradient.CopyTo(grad);
        var values = _validator.CheckValues(result.Node, grad);
        if (values.Kind == GradientVerdictKind.Reject) return new(ResultAction.Exclude, values.Reason);
        var sum = new ShardSum<T>(new Tensors<T>(Parameters.Shape, grad), result.Loss, result.Chars);
        bool suspect = header.Kind == GradientVerdictKind.Suspect || values.Kind == GradientVerdictKind.Suspect;
        if (suspect && !Diverged)
        {
            if (_verifying.Any(v => v.Contains(result.Node))) return new(ResultAction.Ignore); // being recomputed: that result fills it
            long left = _recomputeLeft.GetValueOrDefault(sender);
            if (!rootOfPlan && left < result.Node.Count) return new(ResultAction.Ignore); // beyond its share: it has sent more than it was given
            if (!rootOfPlan) _recomputeLeft[sender] = left - result.Node.Count;
            _verifying.Add(result.Node);
            // a copy: the verdict may come after the step, when its buffers are back in the pool
            var sent = new ShardSum<T>(new Tensors<T>(Parameters.Shape, (T[])grad.Clone()), result.Loss, result.Chars);
            return new(ResultAction.Verify, (header.Kind == GradientVerdictKind.Suspect ? header : values).Reason, sent);
        }
        if (states is not null) KeepFinalStates(result.Node, states);
        _state.Offer(result.Step, result.Node, sum);
        return new(ResultAction.Accepted, BackupAt: IsComplete ? null : Finished(sender, now));
    }

    /// <summary>What the recomputation of a suspect node found; the recomputed sum fills the node (first copy wins).</summary>
    /// <returns>whether the sender lied (<paramref name="sent"/> differs from the recomputation, <see cref="RecomputeVerdict.SenderLied{T}"/>),
    /// and whether the step diverges (the node is non-finite here too)</returns>
    /// <param name="finalStates">--state carry: the recomputed node's final states (its sequences × StateSize)</param>
    public (bool SenderLied, bool Diverges) Verified(Subtree node, ShardSum<T> sent, ShardSum<T> recomputed, T[]? finalStates = null)
    {
        _verifying.Remove(node);
        bool nonFinite = RecomputeVerdict.IsNonFinite(recomputed);
        if (nonFinite) Diverged = true;
        if (_state.Check(Step, node) == ResultVerdict.Accepted)
        {
            if (Carry is not null) KeepFinalStates(node, finalStates ?? throw new ArgumentException("a --state carry recomputation without final states"));
            _state.Offer(Step, node, recomputed);
        }
        return (RecomputeVerdict.SenderLied(sent, recomputed), nonFinite);
    }

    /// <summary>The node's final states into the step's (first copy wins: called only for the copy that fills the node).</summary>
    private void KeepFinalStates(Subtree node, T[] states)
    {
        var (first, count) = SubtreeComputer<T>.SequencesOf(node, _batch.Length, _shardCount);
        states.AsSpan().CopyTo(Carry!.FinalOf(first, count));
    }

    /// <summary>A recomputation failed: hand every missing piece out again (<paramref name="handOut"/>; the tree data plane re-plans instead).</summary>
    public List<Assignment<TWorker>> VerificationFailed(Subtree node, bool handOut = true)
    {
        _verifying.Remove(node);
        return IsComplete || !handOut ? new() : _state.DeadlinePassed();
    }

    /// <summary>The worker may have delivered the last of its share: when (since the step began) to hand out backup tasks, if at all.</summary>
    private TimeSpan? Finished(TWorker worker, TimeSpan now)
    {
        if (_finishedAt.ContainsKey(worker) || _state.Outstanding(worker).Count > 0) return null;
        _finishedAt[worker] = now;
        // measured against the workers taking part now (a lost one's pieces have gone to the others already)
        return _backups.BackupAt(_finishedAt.Values, _state.Live.Count);
    }

    /// <summary>Backup tasks for the stragglers: who is slow (still owes work) and what the idle workers recompute.</summary>
    public (List<TWorker> Slow, List<Assignment<TWorker>> Backups) Backups()
    {
        if (IsComplete) return (new(), new());
        var slow = _state.Live.Where(w => _state.Outstanding(w).Count > 0).ToList();
        return (slow, _state.Backups());
    }

    /// <summary>
    /// The deadline passed: every missing piece is handed out again, and the next deadline is twice as long. The note
    /// says how long each late worker has had its work (one given work by a reassignment just now is not "silent for
    /// the whole deadline").
    /// </summary>
    /// <param name="handOut">false on the tree data plane: nothing is handed out twice (a plan needs disjoint pieces); the caller re-plans</param>
    public (List<Assignment<TWorker>> Again, string? Note) DeadlinePassed(TimeSpan now, bool handOut = true)
    {
        var late = _state.Live.Where(w => _state.Outstanding(w).Count > 0)
            .Select(w => $"{_name(w)} (its work given {Seconds(now - _givenAt.GetValueOrDefault(w))} ago)").ToList();
        string? note = _state.Live.Count == 0 ? $"step {Step}: still no worker; waiting"
            : late.Count > 0 ? $"step {Step}: the step's {Seconds(Deadline)} deadline passed without a result from {string.Join(", ", late)}; {(handOut ? "handing its shards out again" : "planning the step's relay again")}"
            : null;
        var again = IsComplete || !handOut ? new() : _state.DeadlinePassed();
        Deadline = DeadlinePolicy.Extend(Deadline);
        return (again, note);
    }

    private static string Seconds(TimeSpan t) => t.TotalSeconds < 10 ? $"{t.TotalSeconds:0.0} s" : $"{t.TotalSeconds:F0} s";

    /// <summary>The node, or a node containing it, was sent to this worker in this step (a part of an assigned subtree is as good as the whole).</summary>
    private bool WasGiven(TWorker worker, Subtree node) => _given.TryGetValue(worker, out var given) && given.Any(g => g.Contains(node));
}
