using DistRnn.Security;

namespace DistRnn.Coordinator.Membership;

public enum GateOutcome
{
    /// <summary>The proof is right (or the run is open): the worker may register.</summary>
    Admit,
    /// <summary>No live challenge for this worker (it expired, or a newer join replaced it): send a fresh one, blame nobody.</summary>
    Rechallenge,
    /// <summary>No proof, or a wrong one: the worker is refused and told why.</summary>
    Refuse,
}

public readonly record struct GateVerdict(GateOutcome Outcome, string? Reason)
{
    public static readonly GateVerdict Admit = new(GateOutcome.Admit, null);
}

/// <summary>
/// The coordinator's side of challenge–response registration, as plain logic: it hands each asking worker
/// address a fresh nonce, remembers the last few per address for a short while (a worker that retries its join
/// may answer an earlier one), and checks the proof that comes back — once: the first proof offered for an
/// address consumes its nonces, right or wrong, so a guess costs a new round trip and a recorded proof is never
/// accepted twice. The number of addresses with outstanding nonces is bounded (oldest dropped), so a flood of
/// join requests cannot grow memory. With no secret every worker passes (an open run). Not thread-safe: one
/// actor owns it.
/// </summary>
public sealed class RegistrationGate
{
    public const int NoncesPerAddress = 4;

    private readonly SharedSecret? _secret;
    private readonly int _capacity;
    private readonly TimeSpan _lifetime;
    private readonly Func<DateTime> _now;
    private readonly Dictionary<string, List<(byte[] Nonce, DateTime Issued)>> _outstanding = new(StringComparer.Ordinal);
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

    /// <summary>Addresses with nonces issued and not yet used (bounded by the capacity).</summary>
    public int Outstanding => _outstanding.Count;

    /// <summary>A fresh nonce for the worker at <paramref name="workerAddress"/>, or null in an open run.</summary>
    public byte[]? Challenge(string workerAddress)
    {
        if (_secret is null) return null;
        if (!_outstanding.TryGetValue(workerAddress, out var list))
        {
            while (_outstanding.Count >= _capacity) Forget(_order.First!.Value);
            _outstanding[workerAddress] = list = new();
            _order.AddLast(workerAddress);
        }
        if (list.Count >= NoncesPerAddress) list.RemoveAt(0);
        var nonce = ChallengeResponse.NewNonce();
        list.Add((nonce, _now()));
        return nonce;
    }

    /// <summary>
    /// Whether the worker may register. <paramref name="context"/>'s worker address must be the address the
    /// message came from, not one it claims.
    /// </summary>
    public GateVerdict Check(RegistrationContext context, ReadOnlySpan<byte> proof)
    {
        if (_secret is null) return GateVerdict.Admit;
        if (proof.IsEmpty)
        {
            Forget(context.WorkerAddress);
            return new(GateOutcome.Refuse, "this run requires a shared secret: start the worker with --secret-file (the same secret as the coordinator)");
        }
        if (!_outstanding.TryGetValue(context.WorkerAddress, out var issued))
            return new(GateOutcome.Rechallenge, "no registration challenge is outstanding for this worker");
        Forget(context.WorkerAddress); // one proof per round, right or wrong
        var now = _now();
        var live = issued.Where(i => now - i.Issued <= _lifetime).ToList();
        if (live.Count == 0) return new(GateOutcome.Rechallenge, "the registration challenge expired");
        bool ok = false;
        foreach (var (nonce, _) in live) ok |= ChallengeResponse.Verify(_secret, ProofRole.Worker, nonce, context, proof);
        return ok ? GateVerdict.Admit
            : new(GateOutcome.Refuse, "wrong shared secret: the registration proof does not match the coordinator's (check --secret-file on both sides)");
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
