using System.Net;
using DistRnn.Coordinator.Channel;

namespace DistRnn.Tests.Cluster;

/// <summary>
/// The data channel listener's decisions, without a socket: who may begin a handshake, how long a failing accept
/// pauses, which notes reach the log, and which addresses a --listen host means.
/// </summary>
public sealed class ListenerPolicyTests
{
    private static readonly IPAddress A = IPAddress.Parse("10.0.0.1"), B = IPAddress.Parse("10.0.0.2"), C = IPAddress.Parse("10.0.0.3");

    [Fact]
    public void Handshakes_are_capped_in_all_and_per_source_and_a_released_place_is_taken_again()
    {
        var admission = new HandshakeAdmission(new AdmissionLimits(MaxPending: 3, MaxPendingPerSource: 2, DescriptorReserve: 10));
        Assert.Null(admission.TryAdmit(A, 100));
        Assert.Null(admission.TryAdmit(A, 100));
        Assert.Contains("2 handshakes from 10.0.0.1", admission.TryAdmit(A, 100));
        Assert.Null(admission.TryAdmit(B, 100)); // another host still gets in
        Assert.Contains("3 handshakes already in progress", admission.TryAdmit(C, 100));
        Assert.Equal(3, admission.Pending);

        admission.Release(A);
        Assert.Null(admission.TryAdmit(C, 100));
        admission.Release(B);
        Assert.Null(admission.TryAdmit(A, 100));
        Assert.Equal(3, admission.Pending);
    }

    [Fact]
    public void No_connection_is_kept_that_leaves_fewer_descriptors_than_the_reserve_and_unknown_means_no_rule()
    {
        var admission = new HandshakeAdmission(new AdmissionLimits(MaxPending: 8, MaxPendingPerSource: 8, DescriptorReserve: 64));
        Assert.Contains("fewer than 64 file descriptors", admission.TryAdmit(A, 63));
        Assert.Contains("fewer than 64 file descriptors", admission.TryAdmit(A, 0));
        Assert.Equal(0, admission.Pending); // a refusal takes no place
        Assert.Null(admission.TryAdmit(A, 64));
        Assert.Null(admission.TryAdmit(A, null));
        Assert.Equal(2, admission.Pending);
    }

    [Fact]
    public void A_failing_accept_pauses_longer_each_time_up_to_the_bound_and_a_success_starts_over()
    {
        var backoff = new AcceptBackoff();
        var pauses = Enumerable.Range(0, 12).Select(_ => backoff.Failed()).ToList();
        Assert.Equal(AcceptBackoff.First, pauses[0]);
        Assert.All(pauses.Zip(pauses.Skip(1)), p => Assert.True(p.Second >= p.First && p.Second > TimeSpan.Zero));
        Assert.Equal(AcceptBackoff.Longest, pauses[^1]);
        Assert.All(pauses, p => Assert.True(p <= AcceptBackoff.Longest));
        backoff.Succeeded();
        Assert.Equal(AcceptBackoff.First, backoff.Failed());
    }

    [Fact]
    public void A_flood_of_alike_notes_makes_one_line_a_window_and_says_how_many_it_held_back()
    {
        var lines = new List<string>();
        var now = TimeSpan.Zero;
        var digest = new LogDigest(lines.Add, () => now);
        for (int i = 0; i < 500; i++) digest.Note("timeout", $"refused {i}: handshake timed out");
        digest.Note("wrong proof", "refused: wrong proof"); // another kind is told at once
        Assert.Equal(["refused 0: handshake timed out", "refused: wrong proof"], lines);

        now += LogDigest.Window;
        digest.Note("timeout", "refused 500: handshake timed out");
        Assert.Equal(3, lines.Count);
        Assert.StartsWith("refused 500: handshake timed out (and 499 more like it", lines[^1]);
    }

    [Fact]
    public void A_listen_address_is_taken_as_written_and_a_host_name_as_what_it_resolves_to()
    {
        Assert.Equal([IPAddress.Parse("127.0.0.1")], ListenAddresses.Of("127.0.0.1"));
        Assert.Equal([IPAddress.Any], ListenAddresses.Of("0.0.0.0")); // every interface only when asked for
        var local = ListenAddresses.Of("localhost");
        Assert.NotEmpty(local);
        Assert.All(local, a => Assert.True(IPAddress.IsLoopback(a), $"localhost resolved to {a}"));
        Assert.Throws<System.Net.Sockets.SocketException>(() => ListenAddresses.Of("no-such-host.invalid"));
    }
}
