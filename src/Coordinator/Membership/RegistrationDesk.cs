using DistRnn.Coordinator.Node;
using DistRnn.Protocol;
using DistRnn.Security;
using DistRnn.Util;

namespace DistRnn.Coordinator.Membership;

/// <summary>What to answer a worker that asks to join or registers, and what to tell the user.</summary>
/// <param name="Reply">the message for the worker (a run spec with a challenge, Registered, or Refused); null: nothing</param>
/// <param name="Warning">a line for the user (a refusal), or null</param>
/// <param name="Added">the worker was registered just now (it takes part from now on)</param>
public sealed record DeskReply(IProtocolMessage? Reply, string? Warning = null, bool Added = false);

/// <summary>
/// Registration as plain logic: a join request is answered with the run's spec and a fresh challenge (or refused:
/// banned, another protocol version); a registration is checked for the run, corpus, configuration and vocabulary
/// (<see cref="CoordinatorSettings.RefusalReason"/>) and for the secret (<see cref="RegistrationGate"/>), then the
/// worker joins the <see cref="WorkerRoster{TWorker,TWaiter}"/>. The actor sends what this decides. Not thread-safe.
/// </summary>
/// Everything a worker supplied is printed through <see cref="Printable"/> (one bounded line) and refusals through a
/// <see cref="LineRateLimit"/> (a flood of join attempts costs a few lines).
public sealed class RegistrationDesk<TWorker, TWaiter>(CoordinatorSettings settings, WorkerRoster<TWorker, TWaiter> roster, Func<DateTime>? now = null)
    where TWorker : notnull
{
    /// <summary>Refusal lines shown per minute at most.</summary>
    public const int RefusalsPerMinute = 20;

    private readonly RegistrationGate _gate = new(settings.Secret);
    private readonly LineRateLimit _refusals = new(RefusalsPerMinute, TimeSpan.FromMinutes(1), now);

    /// <param name="address">the address the worker's proofs must name (where its messages come from)</param>
    public DeskReply Join(TWorker worker, string address, JoinRequest m)
    {
        if (roster.BanOf(worker) is string why) return new(new Refused($"excluded from this run: {why}"));
        if (m.ProtocolVersion != ProtocolInfo.Version)
            return Refuse(m.Node, address, $"protocol version {m.ProtocolVersion} differs from the coordinator's {ProtocolInfo.Version}");
        return new(Spec(address, m.Nonce));
    }

    public DeskReply Register(TWorker worker, string address, Register m)
    {
        if (roster.Ending) return new(new Refused("the run is over"));
        if (roster.BanOf(worker) is string why) return new(new Refused($"excluded from this run: {why}"));
        if (settings.RefusalReason(m) is string reason) return Refuse(m.Node, address, reason);
        var gate = _gate.Check(settings.ProofContext(address), m.Proof ?? []);
        // a late answer to a replaced or expired challenge: ask again (a registered worker needs nothing)
        if (gate.Outcome == GateOutcome.Rechallenge) return new(roster.IsRegistered(worker) ? null : Spec(address, null));
        if (gate.Outcome == GateOutcome.Refuse) return Refuse(m.Node, address, gate.Reason!);
        bool added = roster.Add(worker, new WorkerInfo(Printable.Of(m.Node), m.Threads));
        return new(new Registered(settings.RunId, roster.Count), Added: added);
    }

    /// <summary>The run's spec with a fresh challenge for the worker, and (when it sent a nonce) the coordinator's own proof.</summary>
    private RunSpec Spec(string address, byte[]? workerNonce)
    {
        var context = settings.ProofContext(address);
        return settings.Spec with
        {
            Challenge = _gate.Challenge(address) ?? [],
            CoordinatorProof = workerNonce is { Length: > 0 } ? _gate.ProveSelf(workerNonce, context) ?? [] : [],
            CoordinatorCertificate = settings.Tls is not null && workerNonce is { Length: ChallengeResponse.NonceBytes } ? settings.Tls.Certificate.RawData : [],
            CoordinatorSignature = settings.Tls is not null && workerNonce is { Length: ChallengeResponse.NonceBytes } ? CertificateRole.SignAsCoordinator(settings.Tls, workerNonce, context) : [],
        };
    }

    private DeskReply Refuse(string node, string address, string reason) =>
        new(new Refused(reason), _refusals.Pass(Printable.Of($"refused worker {Printable.Of(node)} at {address}: {reason}", Printable.LineLength)));
}
