using System.Security.Cryptography;
using System.Text;
using DistRnn.Protocol;
using DistRnn.Security;

namespace DistRnn.Transport.DataChannel;

/// <summary>
/// Mutual proof at the start of a data-channel connection (after TLS, when TLS is on):
/// <code>
///   coordinator ── "DRDC" nonce_c(32) ──────────────────────────► worker
///   coordinator ◄── "DRDC" ticket id(16) nonce_w(32) proof_w(32) ── worker
///   coordinator ── status(1) proof_c(32) ───────────────────────► worker
/// </code>
/// proof_role = HMAC(ticket key, "distrnn-data-channel/" role ‖ ticket id ‖ nonce_c ‖ nonce_w ‖ worker address ‖ m),
/// m = HMAC(run secret, the same bytes) when the run has a secret (--secret-file), empty otherwise. The worker
/// address is the Akka address it registered with, so a ticket proves one registered worker; the nonces are fresh
/// on both sides, so a recorded handshake cannot be replayed; the key and the secret never cross the wire.
/// Where the frames after the handshake carry a MAC (<see cref="FrameMac"/>; a secret, no TLS, not over loopback: <see
/// cref="DataChannelLimits.SignsFrames"/>), its keys are key_role = the same HMAC for the role "frames/" role (each end
/// signs with its own role's key): the ticket key travels over Akka, authenticated but not encrypted without TLS, so
/// the secret in m is what an eavesdropper lacks.
/// </summary>
public static class ChannelHandshake
{
    public const int NonceBytes = 32, ProofBytes = 32;
    public static ReadOnlySpan<byte> Magic => "DRDC"u8;
    public const byte Accepted = 1, Refused = 0;

    public const string WorkerRole = "worker", CoordinatorRole = "coordinator";

    /// <summary>
    /// The roles of a peer link (tree data plane, worker to worker): the connecting worker proves <see cref="PeerClientRole"/>,
    /// the accepting one <see cref="PeerServerRole"/>, with the run's peer ticket and <see cref="PeerAddress"/> for the
    /// address (the ticket is the run's, not one worker's), so a coordinator's proof is never a peer's and back.
    /// </summary>
    public const string PeerClientRole = "peer-client", PeerServerRole = "peer-server", PeerAddress = "distrnn-peer-link";

    public static byte[] Nonce() => RandomNumberGenerator.GetBytes(NonceBytes);

    public static byte[] Proof(string role, DataTicket ticket, ReadOnlySpan<byte> coordinatorNonce, ReadOnlySpan<byte> workerNonce,
        string workerAddress, SharedSecret? secret)
    {
        var msg = new List<byte>(256);
        msg.AddRange(Encoding.UTF8.GetBytes("distrnn-data-channel/" + role + "\n"));
        msg.AddRange(ticket.Id);
        msg.AddRange(coordinatorNonce.ToArray());
        msg.AddRange(workerNonce.ToArray());
        msg.AddRange(Encoding.UTF8.GetBytes(workerAddress));
        var bytes = msg.ToArray();
        var bound = secret is null ? bytes : [.. bytes, .. secret.Mac(bytes)];
        return HMACSHA256.HashData(ticket.Key, bound);
    }

    public static bool Matches(byte[] expected, ReadOnlySpan<byte> got) => CryptographicOperations.FixedTimeEquals(expected, got);

    /// <summary>The frame MACs' keys of the end that proved <paramref name="role"/> to <paramref name="peerRole"/>, when its frames are signed.</summary>
    private static FrameKeys? Keys(bool signFrames, string role, string peerRole, DataTicket ticket, ReadOnlySpan<byte> coordinatorNonce, ReadOnlySpan<byte> workerNonce,
        string workerAddress, SharedSecret? secret) =>
        !signFrames || secret is null ? null
            : new(Proof("frames/" + role, ticket, coordinatorNonce, workerNonce, workerAddress, secret),
                  Proof("frames/" + peerRole, ticket, coordinatorNonce, workerNonce, workerAddress, secret));

    /// <summary>
    /// The worker's side; throws <see cref="ProtocolException"/> when the coordinator refuses or cannot prove the ticket.
    /// Returns the frame MACs' keys where <paramref name="signFrames"/> (<see cref="DataChannelLimits.SignsFrames"/>), else null.
    /// </summary>
    public static async Task<FrameKeys?> AsWorkerAsync(Stream s, DataTicket ticket, string workerAddress, SharedSecret? secret, bool signFrames, CancellationToken ct,
        string role = WorkerRole, string peerRole = CoordinatorRole)
    {
        var hello = new byte[Magic.Length + NonceBytes];
        await s.ReadExactlyAsync(hello, ct).ConfigureAwait(false);
        if (!hello.AsSpan(0, 4).SequenceEqual(Magic)) throw new ProtocolException("the data channel's peer is not a distrnn coordinator");
        var coordinatorNonce = hello[4..];
        var workerNonce = Nonce();
        var proof = Proof(role, ticket, coordinatorNonce, workerNonce, workerAddress, secret);
        await s.WriteAsync((byte[])[.. Magic, .. ticket.Id, .. workerNonce, .. proof], ct).ConfigureAwait(false);
        await s.FlushAsync(ct).ConfigureAwait(false);
        var answer = new byte[1 + ProofBytes];
        await s.ReadExactlyAsync(answer, ct).ConfigureAwait(false);
        if (answer[0] != Accepted) throw new ProtocolException("the coordinator refused the data channel's proof");
        var expected = Proof(peerRole, ticket, coordinatorNonce, workerNonce, workerAddress, secret);
        if (!Matches(expected, answer.AsSpan(1))) throw new ProtocolException("the data channel's peer could not prove the ticket (not this run's coordinator)");
        return Keys(signFrames, role, peerRole, ticket, coordinatorNonce, workerNonce, workerAddress, secret);
    }

    /// <summary>
    /// The coordinator's side: returns the ticket the worker proved, or throws <see cref="ProtocolException"/> (the
    /// worker is told it was refused), with the frame MACs' keys where <paramref name="signFrames"/> (else null).
    /// <paramref name="lookup"/> gives a ticket id's ticket and registered address, once.
    /// </summary>
    public static async Task<(DataTicket Ticket, FrameKeys? Keys)> AsCoordinatorAsync(Stream s, Func<byte[], (DataTicket Ticket, string Address)?> lookup, SharedSecret? secret, bool signFrames, CancellationToken ct,
        string role = CoordinatorRole, string peerRole = WorkerRole)
    {
        var coordinatorNonce = Nonce();
        await s.WriteAsync((byte[])[.. Magic, .. coordinatorNonce], ct).ConfigureAwait(false);
        await s.FlushAsync(ct).ConfigureAwait(false);
        var claim = new byte[Magic.Length + DataTicket.IdBytes + NonceBytes + ProofBytes];
        await s.ReadExactlyAsync(claim, ct).ConfigureAwait(false);
        if (!claim.AsSpan(0, 4).SequenceEqual(Magic)) throw await Refuse(s, "the peer is not a distrnn worker", ct).ConfigureAwait(false);
        var id = claim[4..(4 + DataTicket.IdBytes)];
        var workerNonce = claim[(4 + DataTicket.IdBytes)..(4 + DataTicket.IdBytes + NonceBytes)];
        var proof = claim[(4 + DataTicket.IdBytes + NonceBytes)..];
        if (lookup(id) is not var (ticket, address)) throw await Refuse(s, "unknown or already used ticket", ct).ConfigureAwait(false);
        if (!Matches(Proof(peerRole, ticket, coordinatorNonce, workerNonce, address, secret), proof))
            throw await Refuse(s, "wrong proof (another secret, or not the registered worker)", ct).ConfigureAwait(false);
        await s.WriteAsync((byte[])[Accepted, .. Proof(role, ticket, coordinatorNonce, workerNonce, address, secret)], ct).ConfigureAwait(false);
        await s.FlushAsync(ct).ConfigureAwait(false);
        return (ticket, Keys(signFrames, role, peerRole, ticket, coordinatorNonce, workerNonce, address, secret));
    }

    private static async Task<ProtocolException> Refuse(Stream s, string why, CancellationToken ct)
    {
        try { await s.WriteAsync(new byte[1 + ProofBytes], ct).ConfigureAwait(false); await s.FlushAsync(ct).ConfigureAwait(false); }
        catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException) { }
        return new ProtocolException(why);
    }
}
