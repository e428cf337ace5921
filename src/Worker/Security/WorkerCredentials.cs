using DistRnn.Security;

namespace DistRnn.Worker.Security;

/// <summary>
/// The worker's side of challenge–response registration, as plain logic: a nonce of its own for the
/// coordinator to answer, its proof over the coordinator's nonce, and the check of the coordinator's answer.
/// A worker with a secret refuses a coordinator that cannot prove the same secret (it would otherwise compute
/// for, and send proofs to, whoever answers on the seed address).
/// </summary>
public sealed class WorkerCredentials(SharedSecret? secret)
{
    /// <summary>Sent with the join request: the coordinator proves the secret over it.</summary>
    public byte[] Nonce { get; } = secret is null ? [] : ChallengeResponse.NewNonce();

    public bool HasSecret => secret is not null;

    /// <summary>The proof for the coordinator's challenge: empty when this worker has no secret or no challenge came.</summary>
    public byte[] Answer(ReadOnlySpan<byte> challenge, RegistrationContext context) =>
        secret is null || challenge.Length != ChallengeResponse.NonceBytes
            ? []
            : ChallengeResponse.Prove(secret, ProofRole.Worker, challenge, context);

    /// <summary>The coordinator has proven the secret once (a later re-challenge need not carry a proof again).</summary>
    public bool CoordinatorProven { get; private set; }

    /// <summary>
    /// Null when the coordinator's side checks out (or this worker has no secret: then the coordinator decides,
    /// and says why it refuses); otherwise why this worker must not take part.
    /// </summary>
    public string? CoordinatorRefusal(ReadOnlySpan<byte> challenge, ReadOnlySpan<byte> coordinatorProof, RegistrationContext context)
    {
        if (secret is null) return null;
        if (challenge.IsEmpty)
            return "this worker has --secret-file but the coordinator does not use a shared secret; refusing to compute for it";
        if (coordinatorProof.IsEmpty)
            return CoordinatorProven ? null : "the coordinator did not prove the shared secret; refusing to compute for it";
        if (!ChallengeResponse.Verify(secret, ProofRole.Coordinator, Nonce, context, coordinatorProof))
            return "wrong shared secret: the coordinator's proof does not match this worker's (check --secret-file on both sides)";
        CoordinatorProven = true;
        return null;
    }
}
