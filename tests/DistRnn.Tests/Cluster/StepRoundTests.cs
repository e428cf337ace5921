using DistRnn.Coordinator.Scheduling;
using DistRnn.Coordinator.Verification;
using DistRnn.Model;
using DistRnn.Protocol;
using DistRnn.Reduction;

namespace DistRnn.Tests.Cluster;

/// <summary>One step on the coordinator as plain logic: workers are names, times are passed in, results are built by hand.</summary>
public sealed class StepRoundTests
{
    private static readonly ModelShape Shape = new(5, 3);
    private const int Shards = 4, Seq = 6;
    private static readonly SequenceRef[] Batch = Enumerable.Range(0, 8).Select(i => new SequenceRef(i, Seq)).ToArray();
    private static readonly TimeSpan At = TimeSpan.FromSeconds(1);

    private static StepRound<string, double> New(BackupPolicy? backups = null) =>
        new("run", 3, new Tensors<double>(Shape), Batch, Shards, new GradientValidator<double>(Shape, Shards),
            backups ?? BackupPolicy.Off, TimeSpan.FromSeconds(5), () => new double[Shape.Count]);

    /// <summary>A well-formed result for <paramref name="node"/>: its shards' character count, gradient values all <paramref name="value"/>.</summary>
    private static SubtreeResult Result(Subtree node, double value = 1, long step = 3, string run = "run", double loss = 2, long? chars = null, int? count = null) =>
        new(run, step, node, loss, chars ?? node.Count * 2L * Seq, TensorPayload.Wrap(Enumerable.Repeat(value, count ?? Shape.Count).ToArray()));

    [Fact]
    public void Jobs_carry_the_step_and_the_snapshot_and_results_complete_it_in_tree_order()
    {
        var r = New();
        var jobs = r.Give(r.Start(["A", "B"]), TimeSpan.Zero);
        Assert.Equal([("A", new[] { new Subtree(1, 0) }), ("B", new[] { new Subtree(1, 1) })], jobs.Select(j => (j.Worker, j.Job.Nodes)));
        Assert.All(jobs, j => Assert.Equal((3L, "run"), (j.Job.Step, j.Job.RunId)));
        Assert.Equal(ResultAction.Accepted, r.Offer("B", Result(new Subtree(1, 1), 2), At).Action);
        Assert.False(r.IsComplete);
        Assert.Equal(ResultAction.Accepted, r.Offer("A", Result(new Subtree(1, 0), 1), At).Action);
        Assert.True(r.IsComplete);
        Assert.All(r.Result.Grad.Data, v => Assert.Equal(3.0, v));
        Assert.Equal(4 * 2L * Seq, r.Result.Chars);
    }

    /// <summary>--state carry: every job carries the batch's initial states; each accepted result's final states land in its sequences' rows.</summary>
    [Fact]
    public void With_carried_states_jobs_carry_the_initial_states_and_results_fill_their_sequences_final_states()
    {
        var carry = DistRnn.Compute.StepCarry<double>.For(Batch.Length, Shape.StateSize);
        for (int i = 0; i < carry.Initial.Length; i++) carry.Initial[i] = i / 100.0;
        StepRound<string, double> Round()
        {
            var r = new StepRound<string, double>("run", 3, new Tensors<double>(Shape), Batch, Shards, new GradientValidator<double>(Shape, Shards),
                BackupPolicy.Off, TimeSpan.FromSeconds(5), () => new double[Shape.Count], carry: carry);
            var jobs = r.Give(r.Start(["A", "B"]), TimeSpan.Zero);
            Assert.All(jobs, j => Assert.Equal(carry.Initial, j.Job.States!.ToArray<double>()));
            return r;
        }
        SubtreeResult WithStates(Subtree node, double[]? states) => Result(node) with { States = states is null ? null : TensorPayload.Wrap(states) };
        // subtree L1#1 holds sequences 4..7: 4 × StateSize values
        var right = Enumerable.Range(0, 4 * Shape.StateSize).Select(i => -i / 50.0).ToArray();
        var left = Enumerable.Range(0, 4 * Shape.StateSize).Select(i => i / 50.0).ToArray();
        Assert.Equal(ResultAction.Exclude, Round().Offer("B", WithStates(new Subtree(1, 1), null), At).Action);                                // none
        Assert.Equal(ResultAction.Exclude, Round().Offer("B", WithStates(new Subtree(1, 1), right[..^1]), At).Action);                         // one short
        Assert.Equal(ResultAction.Exclude, Round().Offer("B", WithStates(new Subtree(1, 1), right.Select(v => v * 100).ToArray()), At).Action); // |s| > 1
        var round = Round();
        Assert.Equal(ResultAction.Accepted, round.Offer("B", WithStates(new Subtree(1, 1), right), At).Action);
        Assert.Equal(ResultAction.Accepted, round.Offer("A", WithStates(new Subtree(1, 0), left), At).Action);
        Assert.True(round.IsComplete);
        Assert.Equal(left.Concat(right), carry.Final);
    }

    [Fact]
    public void Stale_foreign_and_duplicate_results_are_ignored_without_blame()
    {
        var r = New();
        r.Give(r.Start(["A", "B"]), TimeSpan.Zero);
        Assert.Equal(ResultAction.Ignore, r.Offer("A", Result(new Subtree(1, 0), step: 2), At).Action);
        Assert.Equal(ResultAction.Ignore, r.Offer("A", Result(new Subtree(1, 0), run: "other"), At).Action);
        Assert.Equal(ResultAction.Accepted, r.Offer("A", Result(new Subtree(1, 0)), At).Action);
        Assert.Equal(ResultAction.Ignore, r.Offer("A", Result(new Subtree(1, 0)), At).Action);
        Assert.Equal(ResultAction.Ignore, r.Offer("A", Result(new Subtree(0, 1)), At).Action); // a part of what is present
    }

    [Theory]
    [InlineData("future step")]
    [InlineData("not given")]
    [InlineData("outside the tree")]
    [InlineData("wrong shape")]
    [InlineData("negative loss")]
    [InlineData("wrong character count")]
    public void A_malformed_or_unasked_result_excludes_its_sender(string what)
    {
        var r = New();
        r.Give(r.Start(["A", "B"]), TimeSpan.Zero);
        var mine = new Subtree(1, 0);
        var result = what switch
        {
            "future step" => Result(mine, step: 4),
            "not given" => Result(new Subtree(1, 1)),
            "outside the tree" => Result(new Subtree(0, 9)),
            "wrong shape" => Result(mine, count: Shape.Count - 1),
            "negative loss" => Result(mine, loss: -1),
            _ => Result(mine, chars: 5),
        };
        var d = r.Offer("A", result, At);
        Assert.Equal(ResultAction.Exclude, d.Action);
        Assert.False(string.IsNullOrWhiteSpace(d.Reason));
        Assert.False(r.IsComplete);
    }

    [Fact]
    public void A_non_finite_result_is_verified_once_and_the_verdict_decides()
    {
        var r = New();
        r.Give(r.Start(["A", "B"]), TimeSpan.Zero);
        var node = new Subtree(1, 0);
        var d = r.Offer("A", Result(node, double.NaN), At);
        Assert.Equal(ResultAction.Verify, d.Action);
        Assert.Equal(ResultAction.Ignore, r.Offer("A", Result(node, double.NaN), At).Action); // already being recomputed

        // the recomputation is finite: the sender lied, the recomputed sum fills the node
        var finite = new ShardSum<double>(new Tensors<double>(Shape, Enumerable.Repeat(1.0, Shape.Count).ToArray()), 2, node.Count * 2L * Seq);
        Assert.Equal((true, false), r.Verified(node, d.Sent!, finite));
        Assert.False(r.Diverged);
        Assert.Equal(ResultAction.Accepted, r.Offer("B", Result(new Subtree(1, 1)), At).Action);
        Assert.True(r.IsComplete);
    }

    [Fact]
    public void Once_a_step_is_known_to_diverge_further_non_finite_results_are_taken_as_sent()
    {
        var r = New();
        r.Give(r.Start(["A", "B"]), TimeSpan.Zero);
        var left = new Subtree(1, 0);
        var sent = r.Offer("A", Result(left, double.PositiveInfinity), At).Sent!;
        var nonFinite = new ShardSum<double>(new Tensors<double>(Shape, Enumerable.Repeat(double.NaN, Shape.Count).ToArray()), 2, left.Count * 2L * Seq);
        Assert.Equal((false, true), r.Verified(left, sent, nonFinite));
        Assert.True(r.Diverged);
        Assert.Equal(ResultAction.Accepted, r.Offer("B", Result(new Subtree(1, 1), double.NaN), At).Action);
        Assert.True(r.IsComplete);
    }

    [Fact]
    public void A_lost_worker_s_work_moves_and_a_deadline_hands_out_the_rest_and_doubles()
    {
        var r = New();
        r.Give(r.Start(["A", "B", "C"]), TimeSpan.Zero);
        var (moved, note) = r.WorkerLost("C");
        Assert.NotEmpty(moved);
        Assert.Contains("its shards go to", note);
        r.Give(moved, TimeSpan.FromSeconds(2));
        var (again, late) = r.DeadlinePassed(TimeSpan.FromSeconds(5));
        Assert.NotEmpty(again);
        Assert.Contains("deadline passed", late);
        Assert.Equal(TimeSpan.FromSeconds(10), r.Deadline);
        // what the lost worker had is still accepted from it, whoever else holds it now (a recomputed subtree has the same bits)
        Assert.True(r.GaveTo("C"));
    }

    [Fact]
    public void Backups_are_asked_for_once_half_the_workers_are_done_and_name_the_slow_ones()
    {
        var r = New(new BackupPolicy(2, TimeSpan.FromMilliseconds(50)));
        r.Give(r.Start(["A", "B"]), TimeSpan.Zero);
        var d = r.Offer("A", Result(new Subtree(1, 0)), TimeSpan.FromMilliseconds(100));
        Assert.Equal(TimeSpan.FromMilliseconds(200), d.BackupAt);
        var (slow, backups) = r.Backups();
        Assert.Equal(["B"], slow);
        Assert.Equal("A", Assert.Single(backups).Worker);
    }

    [Fact]
    public void A_broken_data_channel_hands_what_the_worker_owes_to_the_others_at_once()
    {
        var r = New();
        r.Give(r.Start(["A", "B"]), TimeSpan.Zero);
        var (again, note) = r.ChannelLost("B", "the peer closed the connection");
        Assert.Equal("A", Assert.Single(again).Worker);
        Assert.Contains("data channel broke", note);
        var jobs = r.Give(again, At);
        Assert.Equal(new Subtree(1, 1), Assert.Single(Assert.Single(jobs).Job.Nodes));
        // whichever copy comes first fills the node
        Assert.Equal(ResultAction.Accepted, r.Offer("A", Result(new Subtree(1, 1)), At).Action);
        Assert.Equal(ResultAction.Ignore, r.Offer("B", Result(new Subtree(1, 1)), At).Action);
    }

    [Fact]
    public void Only_a_step_that_never_waited_for_workers_teaches_the_deadline_policy()
    {
        var quick = New();
        quick.Give(quick.Start(["A"]), TimeSpan.Zero);
        Assert.False(quick.WaitedForWorkers);

        var empty = New();
        empty.Start([]);
        Assert.True(empty.WaitedForWorkers);

        var lost = New();
        lost.Give(lost.Start(["A"]), TimeSpan.Zero);
        lost.WorkerLost("A");
        Assert.True(lost.WaitedForWorkers);
    }
}
