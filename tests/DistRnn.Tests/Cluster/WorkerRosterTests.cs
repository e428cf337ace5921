using System.Text.Json;
using DistRnn.Configuration;
using DistRnn.Coordinator.Membership;
using DistRnn.Coordinator.Node;
using DistRnn.Protocol;
using DistRnn.Security;

namespace DistRnn.Tests.Cluster;

/// <summary>Membership and registration as plain logic: workers are "node/actor" strings, the node being the part before the slash.</summary>
public sealed class WorkerRosterTests
{
    private static WorkerRoster<string, string> New() => new(w => w.Split('/')[0], w => w.Split('/')[0]);
    private static WorkerInfo Info(string name) => new(name, 1);

    [Fact]
    public void Registration_keeps_the_order_and_a_second_registration_is_no_new_member()
    {
        var r = New();
        Assert.True(r.Add("n1/w", Info("a")));
        Assert.True(r.Add("n2/w", Info("b")));
        Assert.False(r.Add("n1/w", Info("a")));
        Assert.Equal(["n1/w", "n2/w"], r.Order);
        Assert.Equal("b", r.Name("n2/w"));
        Assert.Equal("n3", r.Name("n3/w")); // a stranger is named by its node
    }

    [Fact]
    public void An_unreachable_worker_is_kept_for_its_return_and_a_removed_one_is_not()
    {
        var r = New();
        r.Add("n1/w", Info("a"));
        r.Add("n2/w", Info("b"));
        var gone = Assert.Single(r.LoseNode("n1", keepForReturn: true));
        Assert.Equal(("n1/w", 1), (gone.Worker, gone.Remaining));
        Assert.True(r.IsKnown("n1/w"));
        Assert.False(r.IsRegistered("n1/w"));
        var back = Assert.Single(r.NodeReturned("n1"));
        Assert.Equal("a", back.Info.Node);
        Assert.Equal(["n2/w", "n1/w"], r.Order);

        r.LoseNode("n2", keepForReturn: true);
        r.ForgetNode("n2");
        Assert.Empty(r.NodeReturned("n2"));
        Assert.False(r.IsKnown("n2/w"));
    }

    [Fact]
    public void A_worker_counted_unreachable_that_still_sends_results_takes_part_again_at_once()
    {
        // after a healed partition, another node's stale "unreachable" view can keep a healthy worker out of the
        // cluster's merged view for seconds; its results prove it reaches the coordinator, so it is back at once
        var r = New();
        r.Add("n1/w", Info("a"));
        r.Add("n2/w", Info("b"));
        Assert.Single(r.LoseNode("n2", keepForReturn: true));
        Assert.Null(r.Heard("n1/w")); // registered: nothing changes
        var back = r.Heard("n2/w");
        Assert.Equal(("n2/w", "b"), (back?.Worker, back?.Info.Node));
        Assert.True(r.IsRegistered("n2/w"));
        Assert.Equal(["n1/w", "n2/w"], r.Order);
        Assert.Empty(r.NodeReturned("n2")); // the cluster's own "reachable" later adds nobody twice
        Assert.Equal(2, r.Count);

        // not a removed node's, a stranger's or a banned one's, nor during the end
        r.LoseNode("n2", keepForReturn: true);
        r.ForgetNode("n2");
        Assert.Null(r.Heard("n2/w"));
        Assert.Null(r.Heard("n3/w"));
        r.Exclude("n1/w", "forged");
        Assert.Null(r.Heard("n1/w"));
        r.Add("n4/w", Info("d"));
        r.LoseNode("n4", keepForReturn: true);
        r.BeginEnd();
        Assert.Null(r.Heard("n4/w"));
        Assert.Equal(0, r.Count);
    }

    [Fact]
    public void A_data_channel_is_offered_at_registration_and_return_and_again_with_a_growing_wait()
    {
        var o = new ChannelOffers<string>(TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(20));
        TimeSpan At(double s) => TimeSpan.FromSeconds(s);
        Assert.True(o.Due("w", At(0))); // never offered (its tensors come over Akka): offered
        o.OfferedNow("w", At(100)); // registered
        Assert.False(o.Due("w", At(104))); // still connecting, perhaps: its ticket is not replaced
        Assert.True(o.Due("w", At(105)));
        Assert.False(o.Due("w", At(114)));  // the wait doubles: 10 s
        Assert.True(o.Due("w", At(115)));
        Assert.True(o.Due("w", At(135)));  // 20 s, the most
        Assert.False(o.Due("w", At(154)));
        Assert.True(o.Due("w", At(155)));
        o.Broke("w"); // it had a channel: the next offer is due at once
        Assert.True(o.Due("w", At(156)));
        Assert.False(o.Due("w", At(160)));
        o.OfferedNow("w", At(161)); // back after a heal: offered at once whatever came before
        Assert.False(o.Due("w", At(165)));
        o.Forget("w");
        Assert.True(o.Due("w", At(165)));
    }

    [Fact]
    public void The_failure_detector_is_set_to_be_patient()
    {
        var c = DistRnn.Transport.AkkaConfig.Node(DistRnn.Transport.AkkaConfig.WorkerRole, "127.0.0.1", 0, verbose: false);
        Assert.Equal(TimeSpan.FromSeconds(1), c.GetTimeSpan("akka.cluster.failure-detector.heartbeat-interval"));
        Assert.Equal(TimeSpan.FromSeconds(8), c.GetTimeSpan("akka.cluster.failure-detector.acceptable-heartbeat-pause"));
        Assert.Equal(10.0, c.GetDouble("akka.cluster.failure-detector.threshold"));
    }

    [Fact]
    public void An_excluded_node_is_banned_for_the_run_whichever_actor_comes_back()
    {
        var r = New();
        r.Add("n1/w", Info("a"));
        var gone = r.Exclude("n1/w", "forged");
        Assert.NotNull(gone);
        Assert.Equal("forged", r.BanOf("n1/other"));
        Assert.Null(r.BanOf("n2/w"));
        r.LoseNode("n1", keepForReturn: true);
        Assert.Empty(r.NodeReturned("n1"));
    }

    [Fact]
    public void Waiters_are_answered_once_when_enough_workers_registered()
    {
        var r = New();
        r.Await(2, "loop");
        r.Add("n1/w", Info("a"));
        Assert.Empty(r.ReadyWaiters());
        r.Add("n2/w", Info("b"));
        Assert.Equal(["loop"], r.ReadyWaiters());
        Assert.Empty(r.ReadyWaiters());
    }

    [Fact]
    public void During_the_end_leaving_workers_are_counted_and_the_last_one_ends_the_wait()
    {
        var r = New();
        r.Add("n1/w", Info("a"));
        r.Add("n2/w", Info("b"));
        r.BeginEnd();
        var first = r.Lose("n1/w")!;
        Assert.True(first.DuringEnd);
        Assert.False(first.AllLeftAtEnd);
        Assert.True(r.Lose("n2/w")!.AllLeftAtEnd);
        Assert.Equal(2, r.LeftAtEnd);
        Assert.Null(r.Lose("n2/w")); // not registered any more: nothing to decide
    }

    private static readonly TrainConfig Config = new() { Hidden = 8 };

    private static (RegistrationDesk<string, string> Desk, WorkerRoster<string, string> Roster, CoordinatorSettings Settings) Desk(SharedSecret? secret = null)
    {
        var settings = new CoordinatorSettings { Config = Config, CorpusSha256 = "abc", CorpusName = "c", VocabSize = 5, Secret = secret };
        var roster = New();
        return (new RegistrationDesk<string, string>(settings, roster), roster, settings);
    }

    private static Register RegisterFor(CoordinatorSettings s, RunSpec spec, byte[]? proof = null) =>
        new(ProtocolInfo.Version, spec.RunId, "a", s.CorpusSha256, JsonSerializer.Deserialize<TrainConfig>(spec.ConfigJson, TrainConfig.Json)!.Fingerprint(), s.VocabSize, 1, proof);

    [Fact]
    public void A_join_gets_the_spec_and_a_matching_registration_is_admitted_once()
    {
        var (desk, roster, s) = Desk();
        var spec = Assert.IsType<RunSpec>(desk.Join("n1/w", "n1", new JoinRequest(ProtocolInfo.Version, "a", 1)).Reply);
        var first = desk.Register("n1/w", "n1", RegisterFor(s, spec));
        Assert.True(first.Added);
        Assert.IsType<Registered>(first.Reply);
        Assert.False(desk.Register("n1/w", "n1", RegisterFor(s, spec)).Added);
        Assert.Equal(1, roster.Count);
    }

    [Fact]
    public void Another_corpus_protocol_or_a_wrong_proof_is_refused_with_a_reason_and_nobody_is_added()
    {
        var secret = SharedSecret.FromBytes(Enumerable.Range(1, 32).Select(i => (byte)i).ToArray());
        var (desk, roster, s) = Desk(secret);
        var oldProtocol = desk.Join("n1/w", "n1", new JoinRequest(ProtocolInfo.Version - 1, "a", 1));
        Assert.IsType<Refused>(oldProtocol.Reply);
        Assert.Contains("protocol version", oldProtocol.Warning);

        var spec = Assert.IsType<RunSpec>(desk.Join("n1/w", "n1", new JoinRequest(ProtocolInfo.Version, "a", 1)).Reply);
        var otherCorpus = desk.Register("n1/w", "n1", RegisterFor(s, spec) with { CorpusSha256 = "def" });
        Assert.Contains("corpus sha256", Assert.IsType<Refused>(otherCorpus.Reply).Reason);
        var wrongProof = desk.Register("n1/w", "n1", RegisterFor(s, spec, new byte[32]));
        Assert.IsType<Refused>(wrongProof.Reply);
        Assert.Equal(0, roster.Count);
    }

    [Fact]
    public void Nobody_registers_once_the_run_is_ending_and_a_banned_node_cannot_even_join()
    {
        var (desk, roster, s) = Desk();
        var spec = Assert.IsType<RunSpec>(desk.Join("n1/w", "n1", new JoinRequest(ProtocolInfo.Version, "a", 1)).Reply);
        roster.Exclude("n2/w", "forged");
        Assert.Contains("excluded", Assert.IsType<Refused>(desk.Join("n2/x", "n2", new JoinRequest(ProtocolInfo.Version, "b", 1)).Reply).Reason);
        roster.BeginEnd();
        Assert.Equal("the run is over", Assert.IsType<Refused>(desk.Register("n1/w", "n1", RegisterFor(s, spec)).Reply).Reason);
    }

    [Fact]
    public void A_worker_supplied_name_cannot_forge_log_lines_or_flood_them()
    {
        var clock = new DateTime(2026, 1, 1);
        var settings = new CoordinatorSettings { Config = Config, CorpusSha256 = "abc", CorpusName = "c", VocabSize = 5 };
        var desk = new RegistrationDesk<string, string>(settings, New(), () => clock);
        string evil = "x\n[akka error] forged line\u001b[2J" + new string('y', 1 << 20);
        var warnings = new List<string>();
        for (int i = 0; i < 100; i++)
            if (desk.Join($"n{i}/w", $"n{i}", new JoinRequest(ProtocolInfo.Version - 1, evil, 1)).Warning is string w) warnings.Add(w);
        Assert.Equal(RegistrationDesk<string, string>.RefusalsPerMinute, warnings.Count);
        Assert.All(warnings, w =>
        {
            Assert.DoesNotContain('\n', w);
            Assert.DoesNotContain('\u001b', w);
            Assert.True(w.Length <= DistRnn.Util.Printable.LineLength + 1, $"{w.Length} characters");
        });
        clock += TimeSpan.FromMinutes(1);
        var next = desk.Join("m/w", "m", new JoinRequest(ProtocolInfo.Version - 1, "plain", 1)).Warning;
        Assert.Contains("80 similar lines not shown", next);
    }

    [Fact]
    public void A_registered_name_is_kept_printable_and_short()
    {
        var (desk, roster, s) = Desk();
        var spec = Assert.IsType<RunSpec>(desk.Join("n1/w", "n1", new JoinRequest(ProtocolInfo.Version, "a", 1)).Reply);
        desk.Register("n1/w", "n1", RegisterFor(s, spec) with { Node = "bad\nname" + new string('z', 500) });
        var name = roster.Name("n1/w");
        Assert.StartsWith("bad\\nname", name);
        Assert.True(name.Length <= DistRnn.Util.Printable.NameLength + 1);
    }
}
