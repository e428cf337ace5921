using DistRnn.Coordinator.Scheduling;
using DistRnn.Protocol;
using DistRnn.Reduction;
using DistRnn.Worker.Node;

namespace DistRnn.Tests.Worker;

/// <summary>
/// The workers' relays of the tree data plane as pure logic, wired to each other by a message queue delivered in a
/// random order (with copies): the root the coordinator gathers, chunk by chunk, has exactly the bits of the fixed-tree
/// sum of the shards, whatever the order, the copies, or a worker lost mid-step; and a re-plan recomputes only what
/// the lost worker held.
/// </summary>
public sealed class TreeRelayTests
{
    private const string Run = "run";
    private const int Shards = 8;
    private const long Step = 4;
    // three chunks of float64 (a model this small has chunks of ChunkLayout.MinChunkBytes), the last one short
    private const int ChunkValues = ChunkLayout.MinChunkBytes / 8;
    private const int Values = 2 * ChunkValues + ChunkValues / 3;
    private static readonly Subtree Root = Subtree.Root(Shards);

    private sealed record Sum(double[] Grad, double Loss, long Chars);

    private static Sum Combine(Sum l, Sum r)
    {
        for (int i = 0; i < l.Grad.Length; i++) l.Grad[i] += r.Grad[i];
        return l with { Loss = l.Loss + r.Loss, Chars = l.Chars + r.Chars };
    }

    /// <summary>Random shard sums whose additions round (values of very different sizes), so any other order shows.</summary>
    private static Sum[] Leaves()
    {
        var rng = new Random(17);
        return Enumerable.Range(0, Shards).Select(_ => new Sum(
            Enumerable.Range(0, Values).Select(_ => (rng.NextDouble() - 0.5) * Math.Pow(10, rng.Next(-8, 8))).ToArray(),
            rng.NextDouble() * 100, rng.Next(1, 1000))).ToArray();
    }

    /// <summary>A node's sum in the fixed tree order (what a worker's compute engine returns for it).</summary>
    private static Sum SumOf(Sum[] leaves, Subtree node)
    {
        var tree = new ReductionTree<Sum>(node, Combine);
        for (int j = node.First; j < node.First + node.Count; j++) tree.Offer(new Subtree(0, j), leaves[j] with { Grad = (double[])leaves[j].Grad.Clone() });
        return tree.Result;
    }

    // --state carry: a batch of 16 sequences (2 per shard), 3 state values each
    private const int Batch = 16, StateSize = 3;

    /// <summary>What a piece's compute turns a sequence's initial state into: any fixed function shows where each value went.</summary>
    private static double FinalOf(double initial, int index) => initial * 2 + index;

    private sealed class Net(Sum[] leaves, int seed)
    {
        private readonly Random _rng = new(seed);
        /// <summary>--state carry: the step's initial states, sent with every plan; null: the run carries none.</summary>
        public double[]? States { get; init; }
        private readonly List<(string To, object Message)> _queue = new();
        public Dictionary<string, ITreeRelay<string>> Relays { get; } = new();
        public HashSet<string> Dead { get; } = new();
        public RootGather<string, double> Gather { get; set; } = null!;
        public SubtreeResult? Root { get; private set; }
        public List<(string Worker, Subtree Node)> Computed { get; } = new();

        public void Plan(RelayPlan<string> plan, double[] parameters)
        {
            foreach (var w in plan.Workers) _queue.Add((w, plan));
            foreach (var chunk in Gather.ParameterChunks(parameters)) _queue.Add((plan.RootOwner, chunk));
        }

        /// <summary>Delivers everything in a random order, a copy of about one message in five as well.</summary>
        public void RunToQuiet()
        {
            while (_queue.Count > 0)
            {
                int i = _rng.Next(_queue.Count);
                var (to, m) = _queue[i];
                if (_rng.Next(5) != 0) _queue.RemoveAt(i);
                if (Dead.Contains(to)) continue;
                var relay = Relays[to];
                var o = m switch
                {
                    RelayPlan<string> p => relay.Plan(Step, p, to, States is null ? null : TensorPayload.Wrap(States)),
                    TreeParameters c => relay.Parameters(c),
                    TreeSum s => relay.Sum(s),
                    SubtreeResult piece => relay.PieceComputed(relay.Detach(piece)),
                    _ => throw new InvalidOperationException(),
                };
                foreach (var (dest, toCoordinator, sum) in o.Sums)
                    if (toCoordinator) Root ??= Gather.Offer(to, sum);
                    else _queue.Add((dest!, sum));
                foreach (var (dest, chunk) in o.Parameters) _queue.Add((dest, chunk));
                if (o.Compute is { } job)
                    foreach (var node in job.Nodes)
                    {
                        Computed.Add((to, node));
                        var s = SumOf(leaves, node);
                        TensorPayload? final = null;
                        if (States is not null)
                        {
                            // the job carries the plan's initial states; the piece's final states are its sequences' only
                            Assert.Equal(States, job.States!.ToArray<double>());
                            var (first, count) = DistRnn.Compute.SubtreeComputer<double>.SequencesOf(node, Batch, Shards);
                            final = TensorPayload.Wrap(Enumerable.Range(first * StateSize, count * StateSize).Select(i => FinalOf(States[i], i)).ToArray());
                        }
                        else Assert.Null(job.States);
                        _queue.Add((to, new SubtreeResult(Run, Step, node, s.Loss, s.Chars, TensorPayload.Wrap(s.Grad), final)));
                    }
            }
        }
    }

    private static void SameBits(Sum expected, SubtreeResult? root)
    {
        Assert.NotNull(root);
        Assert.Equal(Root, root.Node);
        Assert.Equal(BitConverter.DoubleToInt64Bits(expected.Loss), BitConverter.DoubleToInt64Bits(root.Loss));
        Assert.Equal(expected.Chars, root.Chars);
        var got = root.Gradient.ToArray<double>(Values);
        Assert.True(expected.Grad.AsSpan().SequenceEqual(got), "the root's gradient differs from the fixed-tree sum");
    }

    [Theory]
    [InlineData(1, 1)] [InlineData(2, 2)] [InlineData(3, 3)] [InlineData(5, 4)] [InlineData(8, 5)]
    public void The_gathered_root_has_the_fixed_tree_bits_whatever_the_order_and_copies(int workers, int seed)
    {
        var leaves = Leaves();
        var expected = SumOf(leaves, Root);
        var names = Enumerable.Range(0, workers).Select(i => $"w{i}").ToList();
        var net = new Net(leaves, seed) { Gather = new RootGather<string, double>(Run, Step, Root, Values) };
        foreach (var n in names) net.Relays[n] = TreeRelay.For<string>(DistRnn.Model.Precision.Float64, Run, Values, Shards);
        var parts = SubtreeCutter.Split([Root], workers);
        var plan = net.Gather.Replan(names.Take(parts.Count).Select((n, i) => new Assignment<string>(n, parts[i])));
        net.Plan(plan, new double[Values]);
        net.RunToQuiet();
        SameBits(expected, net.Root);
        Assert.Equal(Shards, net.Computed.Sum(c => c.Node.Count)); // every shard computed once
    }

    [Theory]
    [InlineData(3, 0, 6)] [InlineData(3, 2, 7)] [InlineData(4, 1, 8)] [InlineData(5, 0, 9)]
    public void A_worker_lost_mid_step_costs_only_its_pieces_and_no_bit(int workers, int lost, int seed)
    {
        var leaves = Leaves();
        var expected = SumOf(leaves, Root);
        var names = Enumerable.Range(0, workers).Select(i => $"w{i}").ToList();
        var net = new Net(leaves, seed) { Gather = new RootGather<string, double>(Run, Step, Root, Values) };
        foreach (var n in names) net.Relays[n] = TreeRelay.For<string>(DistRnn.Model.Precision.Float64, Run, Values, Shards);
        var state = new StepState<string, int>(Step, Root, (a, b) => a + b);
        state.Start(names);
        var first = net.Gather.Replan(state.Holdings());
        net.Dead.Add(names[lost]); // it never answers: the root cannot complete in this epoch
        net.Plan(first, new double[Values]);
        net.RunToQuiet();
        Assert.Null(net.Root);

        state.WorkerLost(names[lost]);
        var second = net.Gather.Replan(state.Holdings());
        net.Plan(second, new double[Values]);
        net.RunToQuiet();
        SameBits(expected, net.Root);
        // survivors keep what they computed: every shard was computed once in all (the lost worker computed none)
        Assert.Equal(Shards, net.Computed.Sum(c => c.Node.Count));
        Assert.All(net.Computed, c => Assert.NotEqual(names[lost], c.Worker));
    }

    /// <summary>
    /// --state carry: the final states travel up with the sums' chunk 0, so the root brings every sequence's, in the
    /// batch's order (left before right at every node), whatever the order, the copies, or a worker lost mid-step.
    /// </summary>
    [Theory]
    [InlineData(1, 1, -1)] [InlineData(3, 2, -1)] [InlineData(5, 3, -1)] [InlineData(8, 4, -1)] [InlineData(3, 5, 1)] [InlineData(4, 6, 0)]
    public void With_carried_states_the_root_brings_the_whole_batchs_final_states_in_order(int workers, int seed, int lost)
    {
        var leaves = Leaves();
        var initial = Enumerable.Range(0, Batch * StateSize).Select(i => Math.Sin(i) / 3).ToArray();
        var names = Enumerable.Range(0, workers).Select(i => $"w{i}").ToList();
        var net = new Net(leaves, seed) { Gather = new RootGather<string, double>(Run, Step, Root, Values), States = initial };
        foreach (var n in names) net.Relays[n] = TreeRelay.For<string>(DistRnn.Model.Precision.Float64, Run, Values, Shards, Batch, StateSize);
        var state = new StepState<string, int>(Step, Root, (a, b) => a + b);
        state.Start(names);
        net.Plan(net.Gather.Replan(state.Holdings()), new double[Values]);
        if (lost >= 0)
        {
            net.Dead.Add(names[lost]);
            net.RunToQuiet();
            Assert.Null(net.Root);
            state.WorkerLost(names[lost]);
            net.Plan(net.Gather.Replan(state.Holdings()), new double[Values]);
        }
        net.RunToQuiet();
        SameBits(SumOf(leaves, Root), net.Root);
        Assert.Equal(initial.Select(FinalOf), net.Root!.States!.ToArray<double>());
    }

    /// <summary>With --state carry a plan without the batch's initial states, or with the wrong number, asks for no compute; a sum without its node's final states, or with the wrong number, is ignored.</summary>
    [Fact]
    public void With_carried_states_a_plan_or_sum_without_the_right_states_is_ignored()
    {
        var gather = new RootGather<string, double>(Run, Step, Root, Values);
        var plan = gather.Replan([new Assignment<string>("a", [new Subtree(2, 0)]), new Assignment<string>("b", [new Subtree(2, 1)])]);
        var parameters = gather.ParameterChunks(new double[Values]);
        var relay = TreeRelay.For<string>(DistRnn.Model.Precision.Float64, Run, Values, Shards, Batch, StateSize);
        Assert.Null(relay.Plan(Step, plan, "a").Compute);
        Assert.All(parameters, p => Assert.Null(relay.Parameters(p).Compute)); // the parameters are all here, the states are not
        Assert.Null(relay.Plan(Step, plan, "a", TensorPayload.Wrap(new double[Batch * StateSize - 1])).Compute);
        Assert.Null(relay.Plan(Step, plan, "a", TensorPayload.Wrap(new float[Batch * StateSize])).Compute); // wrong precision
        var job = relay.Plan(Step, plan, "a", TensorPayload.Wrap(new double[Batch * StateSize])).Compute;
        Assert.Equal([new Subtree(2, 0)], job!.Nodes);
        Assert.Equal(Batch * StateSize, job.States!.Count);

        var leaves = Leaves();
        var own = SumOf(leaves, new Subtree(2, 0));
        // a piece of 4 shards holds 8 sequences: 24 state values
        Assert.Empty(relay.PieceComputed(new SubtreeResult(Run, Step, new Subtree(2, 0), own.Loss, own.Chars, TensorPayload.Wrap(own.Grad), TensorPayload.Wrap(new double[23]))).Sums);
        Assert.Empty(relay.PieceComputed(new SubtreeResult(Run, Step, new Subtree(2, 0), own.Loss, own.Chars, TensorPayload.Wrap(own.Grad), TensorPayload.Wrap(new double[24]))).Sums);
        var right = SumOf(leaves, new Subtree(2, 1));
        TreeSum Chunk(int k, TensorPayload? states) =>
            new(Run, Step, 1, new Subtree(2, 1), k, k == 0 ? right.Loss : 0, k == 0 ? right.Chars : 0, TensorPayload.Wrap(right.Grad.AsSpan(k * ChunkValues, Math.Min(ChunkValues, Values - k * ChunkValues)).ToArray()), states);
        var states = Enumerable.Range(0, 24).Select(i => (double)i).ToArray();
        Assert.Empty(relay.Sum(Chunk(0, null)).Sums);
        Assert.Empty(relay.Sum(Chunk(0, TensorPayload.Wrap(states[..23]))).Sums);
        Assert.Empty(relay.Sum(Chunk(1, TensorPayload.Wrap(states))).Sums); // only chunk 0 carries states
        var sent = new[] { Chunk(0, TensorPayload.Wrap(states)), Chunk(1, null), Chunk(2, null) }.Select(c => Assert.Single(relay.Sum(c).Sums).Sum).ToList();
        Assert.Equal(new double[24].Concat(states), sent[0].States!.ToArray<double>()); // the left piece's, then the right's
        Assert.All(sent.Skip(1), s => Assert.Null(s.States));
    }

    /// <summary>
    /// A peer link broke (what was queued on it may be lost): <c>Again</c> gives what went to that peer in this epoch —
    /// its parameter chunks and the sums sent to it, with the same bits — and nothing for a peer it sent nothing to.
    /// </summary>
    [Fact]
    public void Again_resends_to_a_peer_exactly_what_went_to_it()
    {
        var leaves = Leaves();
        var gather = new RootGather<string, double>(Run, Step, Root, Values);
        var plan = gather.Replan([new Assignment<string>("a", [new Subtree(2, 0)]), new Assignment<string>("b", [new Subtree(2, 1)])]);
        var parameters = gather.ParameterChunks(Enumerable.Range(0, Values).Select(i => i * 0.25).ToArray());
        var a = TreeRelay.For<string>(DistRnn.Model.Precision.Float64, Run, Values, Shards);
        var b = TreeRelay.For<string>(DistRnn.Model.Precision.Float64, Run, Values, Shards);
        a.Plan(Step, plan, "a");
        b.Plan(Step, plan, "b");
        var down = parameters.SelectMany(p => a.Parameters(p).Parameters).ToList();
        Assert.All(down, d => Assert.Equal("b", d.To));
        Assert.Empty(b.Again("a").Sums); // nothing sent to a yet
        foreach (var (_, chunk) in down) b.Parameters(chunk);
        var right = SumOf(leaves, new Subtree(2, 1));
        var up = b.PieceComputed(new SubtreeResult(Run, Step, new Subtree(2, 1), right.Loss, right.Chars, TensorPayload.Wrap(right.Grad))).Sums;
        Assert.Equal(parameters.Count, up.Count);

        var again = b.Again("a");
        Assert.Empty(again.Parameters); // b passes parameters to no one
        Assert.Equal(up.Select(s => (s.To, s.Sum.Node, s.Sum.Chunk, s.Sum.Loss, s.Sum.Chars, Bits(s.Sum))), again.Sums.Select(s => (s.To, s.Sum.Node, s.Sum.Chunk, s.Sum.Loss, s.Sum.Chars, Bits(s.Sum))));
        var againDown = a.Again("b");
        Assert.Equal(down.Select(d => (d.Chunk.Chunk, Bits(d.Chunk.Values))), againDown.Parameters.Select(d => (d.Chunk.Chunk, Bits(d.Chunk.Values))));
        Assert.Empty(a.Again("c").Parameters);

        // the receiver keeps the first copy: the root has the fixed tree's bits whether the copies come or not
        var own = SumOf(leaves, new Subtree(2, 0));
        a.PieceComputed(new SubtreeResult(Run, Step, new Subtree(2, 0), own.Loss, own.Chars, TensorPayload.Wrap(own.Grad)));
        var roots = up.Concat(again.Sums).SelectMany(s => a.Sum(s.Sum).Sums).ToList();
        Assert.Equal(parameters.Count, roots.Count);
        SubtreeResult? root = null;
        foreach (var r in roots) root = gather.Offer("a", r.Sum) ?? root;
        SameBits(SumOf(leaves, Root), root);
    }

    private static string Bits(TreeSum s) => Bits(s.Values);
    private static string Bits(TensorPayload p) => Convert.ToHexString(System.Runtime.InteropServices.MemoryMarshal.AsBytes(p.ToArray<double>().AsSpan()));

    [Fact]
    public void Sums_of_an_older_epoch_step_or_another_run_and_chunks_of_the_wrong_length_are_ignored()
    {
        var leaves = Leaves();
        var relay = TreeRelay.For<string>(DistRnn.Model.Precision.Float64, Run, Values, Shards);
        var gather = new RootGather<string, double>(Run, Step, Root, Values);
        var plan = gather.Replan([new Assignment<string>("a", [new Subtree(2, 0)]), new Assignment<string>("b", [new Subtree(2, 1)])]);
        var parameters = gather.ParameterChunks(new double[Values]);
        Assert.Equal(3, parameters.Count);
        Assert.Null(relay.Plan(Step, plan, "a").Compute); // no parameters yet
        Assert.Null(relay.Parameters(new TreeParameters(Run, Step, 2, TensorPayload.Wrap(new double[ChunkValues]))).Compute); // the last chunk is short
        Assert.Null(relay.Parameters(new TreeParameters(Run, Step, 3, TensorPayload.Wrap(new double[10]))).Compute); // no such chunk
        Assert.Null(relay.Parameters(parameters[2] with { Values = TensorPayload.Wrap(new float[parameters[2].Values.Count]) }).Compute); // wrong precision
        Assert.Null(relay.Parameters(parameters[0]).Compute);
        Assert.Null(relay.Parameters(parameters[1]).Compute);
        Assert.Equal([new Subtree(2, 0)], relay.Parameters(parameters[2]).Compute!.Nodes); // all there: compute its piece
        Assert.Null(relay.Parameters(parameters[2]).Compute); // a copy: nothing more

        var own = SumOf(leaves, new Subtree(2, 0));
        Assert.Empty(relay.PieceComputed(new SubtreeResult(Run, Step, new Subtree(2, 0), own.Loss, own.Chars, TensorPayload.Wrap(own.Grad))).Sums);
        var right = SumOf(leaves, new Subtree(2, 1));
        TreeSum Chunk(int k, int epoch = 1, long step = Step, string run = Run) =>
            new(run, step, epoch, new Subtree(2, 1), k, k == 0 ? right.Loss : 0, k == 0 ? right.Chars : 0, TensorPayload.Wrap(right.Grad.AsSpan(k * ChunkValues, Math.Min(ChunkValues, Values - k * ChunkValues)).ToArray()));
        Assert.Empty(relay.Sum(Chunk(0, epoch: 0)).Sums);
        Assert.Empty(relay.Sum(Chunk(0, step: Step - 1)).Sums);
        Assert.Empty(relay.Sum(Chunk(0, run: "another")).Sums);
        Assert.Empty(relay.Sum(Chunk(2) with { Chunk = 1 }).Sums); // the short chunk's values as chunk 1
        Assert.Empty(relay.Sum(Chunk(0) with { Node = new Subtree(1, 2) }).Sums); // not a node it receives
        var sent = new[] { 0, 1, 2 }.Select(k => Assert.Single(relay.Sum(Chunk(k)).Sums)).ToList();
        Assert.All(sent, s => Assert.True(s.ToCoordinator));
        Assert.Empty(relay.Sum(Chunk(1)).Sums); // a copy loses to the first
        Assert.All(sent, s => Assert.Equal((1, 0), (s.Sum.Epoch, s.Sum.Node.Index)));
        Assert.Null(gather.Offer("a", sent[0].Sum));
        Assert.Null(gather.Offer("a", sent[1].Sum));
        var root = gather.Offer("a", sent[2].Sum);
        SameBits(SumOf(leaves, Root), root);
    }

    /// <summary>
    /// A root the coordinator did not take (its owner was excluded for it, or its recomputation failed) is gathered
    /// again after the re-plan; chunks count only from the root's owner of the epoch they name.
    /// </summary>
    [Fact]
    public void After_a_re_plan_the_root_is_gathered_again_and_only_from_each_epochs_root_owner()
    {
        var gather = new RootGather<string, double>(Run, Step, Root, Values);
        var whole = SumOf(Leaves(), Root);
        List<TreeSum> Chunks(int epoch) => gather.ParameterChunks(whole.Grad)
            .Select(c => new TreeSum(Run, Step, epoch, Root, c.Chunk, c.Chunk == 0 ? whole.Loss : 0, c.Chunk == 0 ? whole.Chars : 0, c.Values)).ToList();
        gather.Replan([new Assignment<string>("a", [Root])]);
        Assert.All(Chunks(1), c => Assert.Null(gather.Offer("b", c))); // not the root's owner
        var first = Chunks(1).Select(c => gather.Offer("a", c)).ToList();
        SameBits(whole, first[^1]);
        Assert.Null(gather.Offer("a", Chunks(1)[0])); // taken once

        gather.Replan([new Assignment<string>("b", [Root])]);
        Assert.All(Chunks(2), c => Assert.Null(gather.Offer("a", c))); // a owned the root in epoch 1, not 2
        var again = Chunks(2).Select(c => gather.Offer("b", c)).ToList();
        SameBits(whole, again[^1]);
    }
}
