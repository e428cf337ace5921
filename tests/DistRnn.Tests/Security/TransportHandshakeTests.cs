using System.Text;
using DistRnn.Security;
using Side = DistRnn.Security.TransportHandshake.Side;

namespace DistRnn.Tests.Security;

/// <summary>The transport's secret handshake and frame MAC as pure logic (<see cref="TransportHandshake"/>).</summary>
public sealed class TransportHandshakeTests
{
    private static readonly SharedSecret Ours = SharedSecret.FromBytes(Encoding.UTF8.GetBytes("the run's secret, 32 bytes long.."));
    private static readonly SharedSecret Theirs = SharedSecret.FromBytes(Encoding.UTF8.GetBytes("a guess, also 32 bytes long....."));

    /// <summary>A full handshake between a dialler holding <paramref name="dialler"/> and a listener holding <paramref name="listener"/>.</summary>
    private static (TransportHandshake.Keys? Dialler, TransportHandshake.Keys? Listener) Run(SharedSecret dialler, SharedSecret listener)
    {
        var nd = TransportHandshake.NewNonce();
        var nl = TransportHandshake.NewNonce();
        var heard = TransportHandshake.ReadHello(TransportHandshake.Hello(nd))!;
        var answer = TransportHandshake.Answer(listener, heard, nl);
        var listenerNonce = TransportHandshake.ReadAnswer(dialler, nd, answer);
        if (listenerNonce is null) return (null, null);
        var confirm = TransportHandshake.Confirm(dialler, nd, listenerNonce);
        var listenerKeys = TransportHandshake.ReadConfirm(listener, heard, nl, confirm) ? TransportHandshake.KeysFor(listener, Side.Listener, heard, nl) : null;
        return (TransportHandshake.KeysFor(dialler, Side.Dialler, nd, listenerNonce), listenerKeys);
    }

    [Fact]
    public void Two_holders_of_the_secret_agree_on_a_key_per_direction()
    {
        var (d, l) = Run(Ours, Ours);
        Assert.NotNull(d);
        Assert.NotNull(l);
        Assert.Equal(d!.Send, l!.Receive);
        Assert.Equal(d.Receive, l.Send);
        Assert.NotEqual(d.Send, d.Receive);
        var (d2, _) = Run(Ours, Ours);
        Assert.NotEqual(d.Send, d2!.Send); // fresh nonces, fresh keys
    }

    [Fact]
    public void A_dialler_refuses_a_listener_with_another_secret_and_a_listener_refuses_such_a_dialler()
    {
        Assert.Equal((null, null), Run(Ours, Theirs));
        var nd = TransportHandshake.NewNonce();
        var nl = TransportHandshake.NewNonce();
        Assert.False(TransportHandshake.ReadConfirm(Ours, nd, nl, TransportHandshake.Confirm(Theirs, nd, nl)));
    }

    [Fact]
    public void A_recorded_answer_or_confirmation_is_worthless_for_other_nonces_and_roles_do_not_reflect()
    {
        var nd = TransportHandshake.NewNonce();
        var nl = TransportHandshake.NewNonce();
        var answer = TransportHandshake.Answer(Ours, nd, nl);
        Assert.Null(TransportHandshake.ReadAnswer(Ours, TransportHandshake.NewNonce(), answer));
        var confirm = TransportHandshake.Confirm(Ours, nd, nl);
        Assert.False(TransportHandshake.ReadConfirm(Ours, nd, TransportHandshake.NewNonce(), confirm));
        // the listener's proof sent back as the dialler's: the roles are in the MAC
        var reflected = new byte[TransportHandshake.ConfirmBytes];
        answer.AsSpan(0, 5).CopyTo(reflected);
        answer.AsSpan(5 + TransportHandshake.NonceBytes).CopyTo(reflected.AsSpan(5));
        Assert.False(TransportHandshake.ReadConfirm(Ours, nd, nl, reflected));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(5)]
    [InlineData(36)]
    [InlineData(1000)]
    public void Handshake_frames_of_the_wrong_size_or_magic_are_not_read(int length)
    {
        var junk = new byte[length];
        Assert.Null(TransportHandshake.ReadHello(junk));
        Assert.Null(TransportHandshake.ReadAnswer(Ours, TransportHandshake.NewNonce(), junk));
        Assert.False(TransportHandshake.ReadConfirm(Ours, TransportHandshake.NewNonce(), TransportHandshake.NewNonce(), junk));
    }

    [Fact]
    public void A_sealed_frame_opens_only_with_its_key_and_number_and_untouched()
    {
        var (d, l) = Run(Ours, Ours);
        var payload = Encoding.UTF8.GetBytes("ComputeSubtrees(step 7)");
        var frame = TransportHandshake.Seal(d!.Send, 7, payload);
        Assert.Equal(payload.Length, TransportHandshake.Open(l!.Receive, 7, frame));
        Assert.Equal(payload, frame[..payload.Length]);
        Assert.Equal(-1, TransportHandshake.Open(l.Receive, 8, frame));          // replayed or reordered
        Assert.Equal(-1, TransportHandshake.Open(d.Receive, 7, frame));          // reflected back to its sender
        var tampered = (byte[])frame.Clone();
        tampered[3] ^= 1;
        Assert.Equal(-1, TransportHandshake.Open(l.Receive, 7, tampered));
        Assert.Equal(-1, TransportHandshake.Open(l.Receive, 7, frame[..^1]));
        Assert.Equal(-1, TransportHandshake.Open(l.Receive, 0, new byte[TransportHandshake.TagBytes - 1]));
        Assert.Equal(0, TransportHandshake.Open(l.Receive, 9, TransportHandshake.Seal(d.Send, 9, [])));
    }
}
