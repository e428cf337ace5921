using System.Collections.Concurrent;
using System.Text.Json;
using Akka.Actor;
using Akka.TestKit;
using DistRnn.Compute;
using DistRnn.Configuration;
using DistRnn.Coordinator.Node;
using DistRnn.Coordinator.Scheduling;
using DistRnn.Data;
using DistRnn.Model;
using DistRnn.Protocol;
using DistRnn.Reduction;
using DistRnn.Transport;

namespace DistRnn.Tests.Cluster;

/// <summary>
/// The coordinator's protocol with test probes standing in for workers (every message through the binary
/// serializer: serialize-messages = on). The probes compute their subtrees with the foundation's
/// <see cref="SubtreeComputer{T}"/>, so the step's sum can be compared bit for bit with the local root.
/// </summary>
public sealed class CoordinatorActorTests : Akka.TestKit.Xunit2.TestKit
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);
    private readonly Corpus _corpus = TestUtil.CorpusOf(TestUtil.SmallText());
    private readonly TrainConfig _config = new() { Hidden = 12, Seq = 16, Batch = 8, Shards = 4, Steps = 5, Precision = "float64", Seed = 3 };
    private readonly ConcurrentQueue<string> _warnings = new();
    private readonly ClusterStatus _status = new();

    public CoordinatorActorTests() : base(AkkaConfig.SerializationOnly(serializeMessages: true)) { }

    /// <param name="backup">backup tasks for stragglers; off unless a test is about them (probes answer when told to)</param>
    private IActorRef StartCoordinator(DeadlinePolicy? deadline = null, CoordinatorSettings? settings = null, BackupPolicy? backup = null)
    {
        var s = (settings ?? CoordinatorSettings.For(_config, _corpus)) with
        {
            Warn = _warnings.Enqueue,
            Deadline = () => deadline ?? new DeadlinePolicy(TimeSpan.FromMinutes(5), TimeSpan.FromMinutes(5), 4),
            Backup = () => backup ?? BackupPolicy.Off,
            EndGrace = TimeSpan.FromSeconds(2),
        };
        return Sys.ActorOf(Props.Create(() => new CoordinatorActor<double>(s, _status)));
    }

    /// <summary>Joins as a well-behaved worker would: the fingerprint is derived from the configuration the coordinator sent.</summary>
    private TestProbe Register(IActorRef coordinator, string name)
    {
        var probe = CreateTestProbe(name);
        probe.Send(coordinator, new JoinRequest(ProtocolInfo.Version, name, 1));
        var spec = probe.ExpectMsg<RunSpec>(Wait);
        var config = JsonSerializer.Deserialize<TrainConfig>(spec.ConfigJson, TrainConfig.Json)!;
        probe.Send(coordinator, new Register(ProtocolInfo.Version, spec.RunId, name, _corpus.Sha256, config.Fingerprint(), _corpus.Vocabulary.Size, 1));
        probe.ExpectMsg<Registered>(Wait);
        return probe;
    }

    /// <summary>The step's sequences, as the training loop passes them with <see cref="RunStep{T}"/>.</summary>
    private SequenceRef[] Batch(long step) => BatchPlan.For(_config, _corpus).ForStep(step);

    private Tensors<double> Params() => TestUtil.RandomParams<double>(new ModelShape(_corpus.Vocabulary.Size, _config.Hidden), 11);

    private ShardSum<double> Local(Tensors<double> p, long step, Subtree node)
    {
        var batch = BatchPlan.For(_config, _corpus).ForStep(step);
        using var computer = new SubtreeComputer<double>(Kernels.Default<double>(), 1);
        return computer.ComputeAsync(step, p, _config.ActivationKind, _corpus.Tokens, batch, _config.ShardCount, node).GetAwaiter().GetResult();
    }

    /// <summary>What a worker sends back for one node: its sum computed locally.</summary>
    private SubtreeResult Answer(ComputeSubtrees job, Subtree node)
    {
        var p = new Tensors<double>(new ModelShape(_corpus.Vocabulary.Size, _config.Hidden), job.Parameters.ToArray<double>());
        var sum = Local(p, job.Step, node);
        return new SubtreeResult(job.RunId, job.Step, node, sum.Loss, sum.Chars, TensorPayload.Wrap(sum.Grad.Data));
    }

    private static void AssertSameBits(ShardSum<double> expected, ShardSum<double> actual)
    {
        Assert.Equal(expected.Chars, actual.Chars);
        Assert.Equal(BitConverter.DoubleToInt64Bits(expected.Loss), BitConverter.DoubleToInt64Bits(actual.Loss));
        Assert.True(expected.Grad.Data.AsSpan().SequenceEqual(actual.Grad.Data), "gradient bits differ from the single-process root");
    }

    [Fact]
    public void Workers_get_balanced_subtrees_and_the_sum_is_reduced_in_tree_order_whatever_the_arrival_order()
    {
        var coordinator = StartCoordinator();
        var a = Register(coordinator, "a");
        var b = Register(coordinator, "b");
        Assert.Equal(2, _status.Workers);
        var p = Params();
        coordinator.Tell(new RunStep<double>(1, p.Clone(), Batch(1)), TestActor);
        var jobA = a.ExpectMsg<ComputeSubtrees>(Wait);
        var jobB = b.ExpectMsg<ComputeSubtrees>(Wait);
        Assert.Equal(new[] { new Subtree(1, 0) }, jobA.Nodes);
        Assert.Equal(new[] { new Subtree(1, 1) }, jobB.Nodes);
        Assert.True(jobA.Parameters.ToArray<double>().AsSpan().SequenceEqual(p.Data));

        // the right half first, and the left half in two leaves, out of order
        b.Send(coordinator, Answer(jobB, new Subtree(1, 1)));
        a.Send(coordinator, Answer(jobA, new Subtree(0, 1)));
        ExpectNoMsg(TimeSpan.FromMilliseconds(200));
        a.Send(coordinator, Answer(jobA, new Subtree(0, 0)));
        var done = ExpectMsg<StepCompleted<double>>(Wait);
        Assert.Equal(1, done.Step);
        AssertSameBits(Local(p, 1, Subtree.Root(_config.ShardCount)), done.Sum);
    }

    [Fact]
    public void Late_duplicate_and_stale_results_are_ignored()
    {
        var coordinator = StartCoordinator();
        var a = Register(coordinator, "a");
        var p = Params();
        coordinator.Tell(new RunStep<double>(1, p.Clone(), Batch(1)), TestActor);
        var job1 = a.ExpectMsg<ComputeSubtrees>(Wait);
        var root = Subtree.Root(_config.ShardCount);
        a.Send(coordinator, Answer(job1, root));
        AssertSameBits(Local(p, 1, root), ExpectMsg<StepCompleted<double>>(Wait).Sum);
        a.Send(coordinator, Answer(job1, root));                     // late duplicate after completion
        ExpectNoMsg(TimeSpan.FromMilliseconds(200));

        var p2 = Params();
        p2.Data[0] += 0.25;
        coordinator.Tell(new RunStep<double>(2, p2.Clone(), Batch(2)), TestActor);
        var job2 = a.ExpectMsg<ComputeSubtrees>(Wait);
        a.Send(coordinator, Answer(job1, root));                     // step 1's result during step 2: stale
        a.Send(coordinator, Answer(job2 with { RunId = "another run" }, root) with { RunId = "another run" });
        ExpectNoMsg(TimeSpan.FromMilliseconds(200));
        a.Send(coordinator, Answer(job2, new Subtree(1, 0)));
        a.Send(coordinator, Answer(job2, new Subtree(1, 0)));        // duplicate half
        ExpectNoMsg(TimeSpan.FromMilliseconds(200));
        a.Send(coordinator, Answer(job2, new Subtree(1, 1)));
        AssertSameBits(Local(p2, 2, root), ExpectMsg<StepCompleted<double>>(Wait).Sum);
        ExpectNoMsg(TimeSpan.FromMilliseconds(200));
    }

    [Fact]
    public void A_malformed_result_excludes_its_sender_and_its_subtrees_go_to_the_others()
    {
        var coordinator = StartCoordinator();
        var a = Register(coordinator, "a");
        var b = Register(coordinator, "b");
        var c = Register(coordinator, "c");
        var p = Params();
        coordinator.Tell(new RunStep<double>(1, p.Clone(), Batch(1)), TestActor);
        var jobA = a.ExpectMsg<ComputeSubtrees>(Wait);
        var jobB = b.ExpectMsg<ComputeSubtrees>(Wait);
        var jobC = c.ExpectMsg<ComputeSubtrees>(Wait);
        // a: wrong precision and length; b: a node outside the tree
        a.Send(coordinator, new SubtreeResult(jobA.RunId, 1, jobA.Nodes[0], 1, 1, TensorPayload.Wrap(new float[3])));
        b.Send(coordinator, new SubtreeResult(jobB.RunId, 1, new Subtree(0, 9), 1, 1, TensorPayload.Wrap(new double[3])));
        Assert.Contains("excluded", ((Refused)a.FishForMessage(m => m is Refused, Wait)).Reason);
        Assert.Contains("not a node of this step's tree", ((Refused)b.FishForMessage(m => m is Refused, Wait)).Reason);
        Assert.Contains(_warnings, w => w.Contains("excluded") && w.Contains("has 3 values"));
        AwaitCondition(() => _status.Workers == 1, Wait); // the step actor decides, the coordinator then drops them

        // c computes everything (its own part and the reassigned ones); the sum is the single-process root's
        c.Send(coordinator, Answer(jobC, jobC.Nodes[0]));
        for (int i = 0; i < 20 && !HasMessages; i++)
            if (c.ReceiveOne(TimeSpan.FromSeconds(1)) is ComputeSubtrees job)
                foreach (var node in job.Nodes) c.Send(coordinator, Answer(job, node));
        AssertSameBits(Local(p, 1, Subtree.Root(_config.ShardCount)), ExpectMsg<StepCompleted<double>>(Wait).Sum);

        // the excluded worker is refused from now on
        a.Send(coordinator, new JoinRequest(ProtocolInfo.Version, "a", 1));
        Assert.Contains("excluded", a.ExpectMsg<Refused>(Wait).Reason);
    }

    [Fact]
    public void A_stopped_worker_s_subtrees_go_to_the_others_and_the_bits_do_not_change()
    {
        var coordinator = StartCoordinator();
        var a = Register(coordinator, "a");
        var b = Register(coordinator, "b");
        var p = Params();
        coordinator.Tell(new RunStep<double>(4, p.Clone(), Batch(4)), TestActor);
        var jobA = a.ExpectMsg<ComputeSubtrees>(Wait);
        b.ExpectMsg<ComputeSubtrees>(Wait);
        Sys.Stop(b.Ref);
        var moved = a.ExpectMsg<ComputeSubtrees>(Wait);
        Assert.Equal(new[] { new Subtree(1, 1) }, moved.Nodes);
        Assert.Equal(4, moved.Step);
        a.Send(coordinator, Answer(moved, new Subtree(1, 1)));
        a.Send(coordinator, Answer(jobA, new Subtree(1, 0)));
        AssertSameBits(Local(p, 4, Subtree.Root(4)), ExpectMsg<StepCompleted<double>>(Wait).Sum);
        Assert.Equal(1, _status.Workers);
        Assert.Contains(_warnings, w => w.Contains("worker b stopped"));
    }

    [Fact]
    public void A_worker_leaving_hands_its_work_back_at_once()
    {
        var coordinator = StartCoordinator();
        var a = Register(coordinator, "a");
        var b = Register(coordinator, "b");
        coordinator.Tell(new RunStep<double>(1, Params(), Batch(1)), TestActor);
        a.ExpectMsg<ComputeSubtrees>(Wait);
        b.ExpectMsg<ComputeSubtrees>(Wait);
        b.Send(coordinator, new WorkerLeaving("stopped by the user"));
        Assert.Equal(new[] { new Subtree(1, 1) }, a.ExpectMsg<ComputeSubtrees>(Wait).Nodes);
    }

    [Fact]
    public void A_silent_worker_s_subtrees_are_handed_out_again_at_the_deadline_and_its_late_result_is_ignored()
    {
        var coordinator = StartCoordinator(new DeadlinePolicy(TimeSpan.FromMilliseconds(500), TimeSpan.FromMilliseconds(500), 1));
        var a = Register(coordinator, "a");
        var b = Register(coordinator, "b");
        var p = Params();
        coordinator.Tell(new RunStep<double>(1, p.Clone(), Batch(1)), TestActor);
        var jobA = a.ExpectMsg<ComputeSubtrees>(Wait);
        var jobB = b.ExpectMsg<ComputeSubtrees>(Wait);
        a.Send(coordinator, Answer(jobA, new Subtree(1, 0)));
        var backup = a.ExpectMsg<ComputeSubtrees>(Wait);           // b said nothing
        Assert.Equal(new[] { new Subtree(1, 1) }, backup.Nodes);
        a.Send(coordinator, Answer(backup, new Subtree(1, 1)));
        AssertSameBits(Local(p, 1, Subtree.Root(4)), ExpectMsg<StepCompleted<double>>(Wait).Sum);
        b.Send(coordinator, Answer(jobB, new Subtree(1, 1)));        // b at last
        ExpectNoMsg(TimeSpan.FromMilliseconds(300));
        Assert.Equal(2, _status.Workers);                            // slow is not lost
        // it names the silent worker and how long it has had its work (not only the deadline: work can come later, by a reassignment)
        Assert.Contains(_warnings, w => System.Text.RegularExpressions.Regex.IsMatch(w, @"deadline passed without a result from b \(its work given \d+\.\d s ago\)"));
    }

    [Fact]
    public void An_idle_worker_backs_up_a_slow_one_long_before_the_deadline_and_the_first_result_wins()
    {
        var coordinator = StartCoordinator(backup: new BackupPolicy(2.0, TimeSpan.FromMilliseconds(50)));
        var a = Register(coordinator, "a");
        var b = Register(coordinator, "b");
        var p = Params();
        coordinator.Tell(new RunStep<double>(1, p.Clone(), Batch(1)), TestActor);
        var jobA = a.ExpectMsg<ComputeSubtrees>(Wait);
        var jobB = b.ExpectMsg<ComputeSubtrees>(Wait);
        a.Send(coordinator, Answer(jobA, new Subtree(1, 0)));
        var backup = a.ExpectMsg<ComputeSubtrees>(Wait);           // the deadline is minutes away: this is a backup task
        Assert.Equal(1, backup.Step);
        Assert.Equal(new[] { new Subtree(1, 1) }, backup.Nodes);
        a.Send(coordinator, Answer(backup, new Subtree(1, 1)));
        AssertSameBits(Local(p, 1, Subtree.Root(4)), ExpectMsg<StepCompleted<double>>(Wait).Sum);
        b.Send(coordinator, Answer(jobB, new Subtree(1, 1)));        // b at last: a duplicate, ignored
        ExpectNoMsg(TimeSpan.FromMilliseconds(300));
        Assert.Equal(2, _status.Workers);                            // slow is not lost
        b.ExpectNoMsg(TimeSpan.FromMilliseconds(100));               // and not sent anything more
    }

    [Fact]
    public void A_step_without_workers_waits_for_one_to_register()
    {
        var coordinator = StartCoordinator();
        var p = Params();
        coordinator.Tell(new RunStep<double>(1, p.Clone(), Batch(1)), TestActor);
        var a = Register(coordinator, "late");
        var job = a.ExpectMsg<ComputeSubtrees>(Wait);
        Assert.Equal(new[] { Subtree.Root(4) }, job.Nodes);
        a.Send(coordinator, Answer(job, Subtree.Root(4)));
        AssertSameBits(Local(p, 1, Subtree.Root(4)), ExpectMsg<StepCompleted<double>>(Wait).Sum);
    }

    [Fact]
    public void Waiting_for_workers_is_answered_when_enough_registered()
    {
        var coordinator = StartCoordinator();
        coordinator.Tell(new AwaitWorkers(2), TestActor);
        Register(coordinator, "a");
        ExpectNoMsg(TimeSpan.FromMilliseconds(200));
        Register(coordinator, "b");
        Assert.Equal(2, ExpectMsg<WorkersReady>(Wait).Workers);
    }

    [Fact]
    public void Mismatched_workers_are_refused_with_the_reason()
    {
        var coordinator = StartCoordinator();
        var probe = CreateTestProbe();
        probe.Send(coordinator, new JoinRequest(ProtocolInfo.Version + 1, "future", 1));
        Assert.Contains("protocol version", probe.ExpectMsg<Refused>(Wait).Reason);

        probe.Send(coordinator, new JoinRequest(ProtocolInfo.Version, "w", 1));
        var spec = probe.ExpectMsg<RunSpec>(Wait);
        string fingerprint = _config.Fingerprint();
        var good = new Register(ProtocolInfo.Version, spec.RunId, "w", _corpus.Sha256, fingerprint, _corpus.Vocabulary.Size, 1);

        probe.Send(coordinator, good with { CorpusSha256 = new string('0', 64) });
        Assert.Contains("corpus sha256", probe.ExpectMsg<Refused>(Wait).Reason);
        probe.Send(coordinator, good with { ConfigFingerprint = (_config with { Hidden = 13 }).Fingerprint() });
        Assert.Contains("configuration fingerprint", probe.ExpectMsg<Refused>(Wait).Reason);
        probe.Send(coordinator, good with { ProtocolVersion = 0 });
        Assert.Contains("protocol version", probe.ExpectMsg<Refused>(Wait).Reason);
        probe.Send(coordinator, good with { VocabSize = 3 });
        Assert.Contains("vocabulary size", probe.ExpectMsg<Refused>(Wait).Reason);
        probe.Send(coordinator, good with { RunId = "old run" });
        Assert.Contains("run", probe.ExpectMsg<Refused>(Wait).Reason);
        Assert.Equal(0, _status.Workers);
        Assert.Equal(6, _warnings.Count(w => w.StartsWith("refused worker")));

        probe.Send(coordinator, good);
        Assert.Equal(1, probe.ExpectMsg<Registered>(Wait).Workers);
    }

    [Fact]
    public void Ending_the_run_tells_every_worker_and_waits_for_them_to_leave()
    {
        var coordinator = StartCoordinator();
        var a = Register(coordinator, "a");
        var b = Register(coordinator, "b");
        coordinator.Tell(new EndRun(true, "training finished"), TestActor);
        Assert.True(a.ExpectMsg<RunEnded>(Wait).Completed);
        b.ExpectMsg<RunEnded>(Wait);
        a.Send(coordinator, new WorkerLeaving("run ended"));
        ExpectNoMsg(TimeSpan.FromMilliseconds(200));
        b.Send(coordinator, new WorkerLeaving("run ended"));
        Assert.Equal(2, ExpectMsg<RunEndAcknowledged>(Wait).WorkersLeft);
        var late = CreateTestProbe();
        late.Send(coordinator, new JoinRequest(ProtocolInfo.Version, "late", 1));
        var spec = late.ExpectMsg<RunSpec>(Wait);
        late.Send(coordinator, new Register(ProtocolInfo.Version, spec.RunId, "late", _corpus.Sha256, _config.Fingerprint(), _corpus.Vocabulary.Size, 1));
        Assert.Contains("over", late.ExpectMsg<Refused>(Wait).Reason);
    }
}
