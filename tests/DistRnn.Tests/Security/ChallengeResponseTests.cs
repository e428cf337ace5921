using System.Text;
using DistRnn.Coordinator.Membership;
using DistRnn.Security;
using DistRnn.Worker.Security;

namespace DistRnn.Tests.Security;

public class ChallengeResponseTests
{
    private static readonly SharedSecret Secret = SharedSecret.FromBytes(Encoding.UTF8.GetBytes("correct horse battery staple 42"));
    private static readonly SharedSecret Other = SharedSecret.FromBytes(Encoding.UTF8.GetBytes("correct horse battery staple 43"));
    private static readonly RegistrationContext Ctx = new(1, "run-1", "ab12", "cfg-fp", "akka.tcp://distrnn@127.0.0.1:4100");

    [Fact]
    public void Proof_verifies_with_the_same_secret_nonce_and_context_only()
    {
        var nonce = ChallengeResponse.NewNonce();
        var proof = ChallengeResponse.Prove(Secret, ProofRole.Worker, nonce, Ctx);
        Assert.Equal(ChallengeResponse.ProofBytes, proof.Length);
        Assert.True(ChallengeResponse.Verify(Secret, ProofRole.Worker, nonce, Ctx, proof));

        Assert.False(ChallengeResponse.Verify(Other, ProofRole.Worker, nonce, Ctx, proof));                 // other secret
        Assert.False(ChallengeResponse.Verify(Secret, ProofRole.Worker, ChallengeResponse.NewNonce(), Ctx, proof)); // other nonce
        Assert.False(ChallengeResponse.Verify(Secret, ProofRole.Coordinator, nonce, Ctx, proof));           // reflected to the other role
        foreach (var changed in new[]
                 {
                     Ctx with { ProtocolVersion = 2 }, Ctx with { RunId = "run-2" }, Ctx with { CorpusSha256 = "ab13" },
                     Ctx with { ConfigFingerprint = "cfg-fq" }, Ctx with { WorkerAddress = "akka.tcp://distrnn@127.0.0.1:4101" },
                 })
            Assert.False(ChallengeResponse.Verify(Secret, ProofRole.Worker, nonce, changed, proof));

        var flipped = (byte[])proof.Clone();
        flipped[^1] ^= 1;
        Assert.False(ChallengeResponse.Verify(Secret, ProofRole.Worker, nonce, Ctx, flipped));
        Assert.False(ChallengeResponse.Verify(Secret, ProofRole.Worker, nonce, Ctx, proof.AsSpan(0, 31)));
        Assert.False(ChallengeResponse.Verify(Secret, ProofRole.Worker, nonce, Ctx, ReadOnlySpan<byte>.Empty));
    }

    [Fact]
    public void The_secret_never_appears_in_what_crosses_the_wire()
    {
        var key = Encoding.UTF8.GetBytes("correct horse battery staple 42");
        var nonce = ChallengeResponse.NewNonce();
        var proof = ChallengeResponse.Prove(Secret, ProofRole.Worker, nonce, Ctx);
        Assert.Equal(-1, proof.AsSpan().IndexOf(key.AsSpan(0, 8)));
        // the proof is the HMAC of the length-prefixed message, not of the secret concatenated with anything
        Assert.Equal(System.Security.Cryptography.HMACSHA256.HashData(key, ChallengeResponse.Message(ProofRole.Worker, nonce, Ctx)), proof);
    }

    [Fact]
    public void Field_boundaries_are_unambiguous()
    {
        var nonce = ChallengeResponse.NewNonce();
        var a = ChallengeResponse.Message(ProofRole.Worker, nonce, Ctx with { RunId = "ab", CorpusSha256 = "c" });
        var b = ChallengeResponse.Message(ProofRole.Worker, nonce, Ctx with { RunId = "a", CorpusSha256 = "bc" });
        Assert.NotEqual(a, b);
    }

    [Fact]
    public void Nonces_are_fresh()
    {
        var seen = new HashSet<string>();
        for (int i = 0; i < 1000; i++) Assert.True(seen.Add(Convert.ToHexString(ChallengeResponse.NewNonce())));
    }

    [Fact]
    public void Gate_accepts_a_right_proof_once_and_refuses_wrong_missing_replayed_and_expired_ones()
    {
        var now = new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc);
        var gate = new RegistrationGate(Secret, lifetime: TimeSpan.FromSeconds(60), now: () => now);
        Assert.True(gate.RequiresProof);

        var worker = new WorkerCredentials(Secret);
        var nonce = gate.Challenge(Ctx.WorkerAddress)!;
        var proof = worker.Answer(nonce, Ctx);
        Assert.Equal(GateVerdict.Admit, gate.Check(Ctx, proof));
        Assert.Equal(GateOutcome.Rechallenge, gate.Check(Ctx, proof).Outcome); // replay of a used nonce: not admitted

        var liar = new WorkerCredentials(Other);
        nonce = gate.Challenge(Ctx.WorkerAddress)!;
        AssertRefused(gate.Check(Ctx, liar.Answer(nonce, Ctx)), "wrong shared secret");
        Assert.NotEqual(GateOutcome.Admit, gate.Check(Ctx, worker.Answer(nonce, Ctx)).Outcome); // no second guess on one nonce

        var noSecret = new WorkerCredentials(null);
        nonce = gate.Challenge(Ctx.WorkerAddress)!;
        Assert.Empty(noSecret.Answer(nonce, Ctx));
        AssertRefused(gate.Check(Ctx, noSecret.Answer(nonce, Ctx)), "requires a shared secret");

        // a proof presented from another address (a relay) does not match
        var relay = Ctx with { WorkerAddress = "akka.tcp://distrnn@10.0.0.9:4100" };
        nonce = gate.Challenge(relay.WorkerAddress)!;
        AssertRefused(gate.Check(relay, worker.Answer(nonce, Ctx)), "wrong shared secret");

        nonce = gate.Challenge(Ctx.WorkerAddress)!;
        now += TimeSpan.FromSeconds(61);
        Assert.Equal(GateOutcome.Rechallenge, gate.Check(Ctx, worker.Answer(nonce, Ctx)).Outcome);
        Assert.Equal(0, gate.Outstanding);
    }

    [Fact]
    public void Gate_accepts_an_answer_to_an_earlier_challenge_of_the_same_worker()
    {
        // a worker that retried its join may answer the first of several challenges
        var gate = new RegistrationGate(Secret);
        var first = gate.Challenge(Ctx.WorkerAddress)!;
        gate.Challenge(Ctx.WorkerAddress);
        gate.Challenge(Ctx.WorkerAddress);
        Assert.Equal(GateVerdict.Admit, gate.Check(Ctx, new WorkerCredentials(Secret).Answer(first, Ctx)));
    }

    private static void AssertRefused(GateVerdict v, string reason)
    {
        Assert.Equal(GateOutcome.Refuse, v.Outcome);
        Assert.Contains(reason, v.Reason);
    }

    [Fact]
    public void Gate_keeps_a_bounded_number_of_outstanding_nonces()
    {
        var gate = new RegistrationGate(Secret, capacity: 8);
        for (int i = 0; i < 10_000; i++) gate.Challenge($"akka.tcp://distrnn@10.0.{i / 256}.{i % 256}:1");
        for (int i = 0; i < 100; i++) gate.Challenge("akka.tcp://distrnn@10.0.0.1:1");
        Assert.Equal(8, gate.Outstanding);
        // the newest ones are still good
        var ctx = Ctx with { WorkerAddress = "akka.tcp://distrnn@10.0.39.15:1" };
        var nonce = gate.Challenge(ctx.WorkerAddress)!;
        Assert.Equal(GateVerdict.Admit, gate.Check(ctx, new WorkerCredentials(Secret).Answer(nonce, ctx)));
    }

    [Fact]
    public void Open_run_lets_everyone_in_and_issues_no_challenge()
    {
        var gate = new RegistrationGate(null);
        Assert.False(gate.RequiresProof);
        Assert.Null(gate.Challenge(Ctx.WorkerAddress));
        Assert.Equal(GateVerdict.Admit, gate.Check(Ctx, ReadOnlySpan<byte>.Empty));
        Assert.Null(gate.ProveSelf(ChallengeResponse.NewNonce(), Ctx));
    }

    [Fact]
    public void Worker_checks_the_coordinators_proof()
    {
        var worker = new WorkerCredentials(Secret);
        Assert.Equal(ChallengeResponse.NonceBytes, worker.Nonce.Length);
        var gate = new RegistrationGate(Secret);
        var challenge = gate.Challenge(Ctx.WorkerAddress)!;
        Assert.Null(worker.CoordinatorRefusal(challenge, gate.ProveSelf(worker.Nonce, Ctx)!, Ctx));

        var impostor = new RegistrationGate(Other);
        Assert.Contains("wrong shared secret", worker.CoordinatorRefusal(impostor.Challenge(Ctx.WorkerAddress)!, impostor.ProveSelf(worker.Nonce, Ctx)!, Ctx));
        Assert.Contains("does not use a shared secret", worker.CoordinatorRefusal([], [], Ctx));
        Assert.Contains("did not prove", new WorkerCredentials(Secret).CoordinatorRefusal(challenge, [], Ctx));
        Assert.True(worker.CoordinatorProven);
        Assert.Null(worker.CoordinatorRefusal(gate.Challenge(Ctx.WorkerAddress)!, [], Ctx)); // a re-challenge after the proof
        // the coordinator's proof cannot be turned into a worker's proof (roles are bound)
        var coordinatorProof = gate.ProveSelf(worker.Nonce, Ctx)!;
        Assert.False(ChallengeResponse.Verify(Secret, ProofRole.Worker, worker.Nonce, Ctx, coordinatorProof));

        var open = new WorkerCredentials(null);
        Assert.Empty(open.Nonce);
        Assert.Null(open.CoordinatorRefusal([], [], Ctx));
        Assert.Null(open.CoordinatorRefusal(challenge, [], Ctx)); // the coordinator refuses it, and logs why
    }
}
