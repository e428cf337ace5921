using DistRnn.Security;

namespace DistRnn.Worker.Security;

/// <summary>
/// The worker's side of challenge–response registration, as plain logic: a nonce of its own for the
/// coordinator to answer, its proof over the coordinator's nonce, and the check of the coordinator's answer.
/// A worker with a secret refuses a coordinator that cannot prove the same secret (it would otherwise compute
/// for, and send proofs to, whoever answers on the seed address).
/// </summary>
/// With TLS the coordinator must also sign this worker's nonce with a coordinator certificate of the run's CA
/// (<see cref="CertificateRole"/>): a node holding a worker's certificate cannot steer this worker.
public sealed class WorkerCredentials(SharedSecret? secret, TlsCredentials? tls = null)
{
    /// <summary>Sent with the join request: the coordinator proves the secret (and, with TLS, its role) over it.</summary>
    public byte[] Nonce { get; } = secret is null && tls is null ? [] : ChallengeResponse.NewNonce();

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
    public string? CoordinatorRefusal(ReadOnlySpan<byte> challenge, ReadOnlySpan<byte> coordinatorProof, RegistrationContext context,
        ReadOnlySpan<byte> coordinatorCertificate = default, ReadOnlySpan<byte> coordinatorSignature = default)
    {
        if (tls is not null && CertificateRole.CoordinatorProblem(tls, coordinatorCertificate, coordinatorSignature, Nonce, context) is string role)
            return $"{role}; refusing to compute for it (--tls-cert of the coordinator must be made for the coordinator role)";
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
