namespace DistRnn.Security;

/// <summary>
/// The coordinator's side of challenge–response registration, as plain logic: it hands each asking worker
/// address a fresh nonce, remembers it for a short while, and checks the proof that comes back — once: a
/// nonce is consumed by the first proof offered for it, right or wrong, so a guess costs a new round trip
/// and a recorded proof is never accepted twice. The set of outstanding nonces is bounded (oldest dropped),
/// so a flood of join requests cannot grow memory. With no secret every worker passes (an open run).
/// Not thread-safe: one actor owns it.
/// </summary>
public sealed class RegistrationGate
{
    private readonly SharedSecret? _secret;
    private readonly int _capacity;
    private readonly TimeSpan _lifetime;
    private readonly Func<DateTime> _now;
    private readonly Dictionary<string, (byte[] Nonce, DateTime Issued)> _outstanding = new(StringComparer.Ordinal);
    private readonly LinkedList<string> _order = new();

    public RegistrationGate(SharedSecret? secret, int capacity = 1024, TimeSpan? lifetime = null, Func<DateTime>? now = null)
    {
        if (capacity < 1) throw new ArgumentOutOfRangeException(nameof(capacity));
        _secret = secret;
        _capacity = capacity;
        _lifetime = lifetime ?? TimeSpan.FromMinutes(2);
        _now = now ?? (() => DateTime.UtcNow);
    }

    /// <summary>True when workers must prove the secret.</summary>
    public bool RequiresProof => _secret is not null;

    /// <summary>Nonces issued and not yet used or expired (bounded by the capacity).</summary>
    public int Outstanding => _outstanding.Count;

    /// <summary>A fresh nonce for the worker at <paramref name="workerAddress"/> (replacing any earlier one), or null in an open run.</summary>
    public byte[]? Challenge(string workerAddress)
    {
        if (_secret is null) return null;
        Forget(workerAddress);
        while (_outstanding.Count >= _capacity) Forget(_order.First!.Value);
        var nonce = ChallengeResponse.NewNonce();
        _outstanding[workerAddress] = (nonce, _now());
        _order.AddLast(workerAddress);
        return nonce;
    }

    /// <summary>
    /// Null when the worker may register; otherwise the reason it is refused (sent to the worker and logged).
    /// <paramref name="context"/>'s worker address must be the address the message came from, not one it claims.
    /// </summary>
    public string? Refusal(RegistrationContext context, ReadOnlySpan<byte> proof)
    {
        if (_secret is null) return null;
        var address = context.WorkerAddress;
        if (!_outstanding.TryGetValue(address, out var issued))
            return "no registration challenge is outstanding for this worker (it expired or was already used); join again";
        Forget(address); // one proof per nonce, right or wrong
        if (_now() - issued.Issued > _lifetime)
            return $"the registration challenge expired (answer within {_lifetime.TotalSeconds:F0} s); join again";
        if (proof.IsEmpty)
            return "this run requires a shared secret: start the worker with --secret-file (the same secret as the coordinator)";
        if (!ChallengeResponse.Verify(_secret, ProofRole.Worker, issued.Nonce, context, proof))
            return "wrong shared secret: the registration proof does not match the coordinator's (check --secret-file on both sides)";
        return null;
    }

    /// <summary>The coordinator's own proof over a worker's nonce (so the worker knows it talks to the holder of the secret), or null in an open run.</summary>
    public byte[]? ProveSelf(ReadOnlySpan<byte> workerNonce, RegistrationContext context) =>
        _secret is null || workerNonce.Length != ChallengeResponse.NonceBytes
            ? null
            : ChallengeResponse.Prove(_secret, ProofRole.Coordinator, workerNonce, context);

    private void Forget(string address)
    {
        if (_outstanding.Remove(address)) _order.Remove(address);
    }
}
