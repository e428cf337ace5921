using System.Security.Cryptography.X509Certificates;
using DistRnn.Security;
using DistRnn.Worker.Node;

namespace DistRnn.Tests.Security;

/// <summary>A certificate's role and the coordinator's signature with it (<see cref="CertificateRole"/>); the worker's pin (<see cref="CoordinatorPin"/>).</summary>
public sealed class CertificateRoleTests
{
    private static readonly RegistrationContext Ctx = new(3, "run-1", "abc", "fp", "akka.ssl.tcp://distrnn@127.0.0.1:5000");

    private static TlsCredentials Load(TestCertificates ca, string name, string? role = null) =>
        TlsCredentials.FromOptions(ca.Node(name, role: role), ca.CaPath, TestCertificates.Password)!;

    [Fact]
    public void The_role_is_the_subjects_organisational_unit()
    {
        var ca = new TestCertificates(TestUtil.TempDir());
        using var c = Load(ca, "coordinator");
        using var w = Load(ca, "worker-1");
        using var none = Load(ca, "legacy", role: "");
        Assert.Equal(CertificateRole.Coordinator, CertificateRole.Of(c.Certificate));
        Assert.Equal(CertificateRole.Worker, CertificateRole.Of(w.Certificate));
        Assert.Null(CertificateRole.Of(none.Certificate));
        Assert.Null(CertificateRole.Problem(c.Certificate, CertificateRole.Coordinator));
        Assert.Contains("made for the worker role", CertificateRole.Problem(w.Certificate, CertificateRole.Coordinator));
        Assert.Contains("made for no role", CertificateRole.Problem(none.Certificate, CertificateRole.Coordinator));
    }

    [Fact]
    public void A_worker_accepts_only_a_coordinator_certificate_of_its_CA_signing_its_own_nonce_in_its_context()
    {
        var dir = TestUtil.TempDir();
        var ca = new TestCertificates(dir, "Run CA");
        var other = new TestCertificates(dir, "Other CA");
        using var worker = Load(ca, "worker-1");
        using var coordinator = Load(ca, "coordinator");
        using var posing = Load(ca, "worker-2");
        using var stranger = Load(other, "coordinator");
        var nonce = ChallengeResponse.NewNonce();

        byte[] Sig(TlsCredentials t, byte[] n, RegistrationContext ctx) => CertificateRole.SignAsCoordinator(t, n, ctx);
        Assert.Null(CertificateRole.CoordinatorProblem(worker, coordinator.Certificate.RawData, Sig(coordinator, nonce, Ctx), nonce, Ctx));
        Assert.Contains("worker role", CertificateRole.CoordinatorProblem(worker, posing.Certificate.RawData, Sig(posing, nonce, Ctx), nonce, Ctx));
        Assert.Contains("does not chain to the run's CA", CertificateRole.CoordinatorProblem(worker, stranger.Certificate.RawData, Sig(stranger, nonce, Ctx), nonce, Ctx));
        // the real coordinator's certificate with a signature made by another key, for another nonce, or in another context
        Assert.Contains("signature", CertificateRole.CoordinatorProblem(worker, coordinator.Certificate.RawData, Sig(posing, nonce, Ctx), nonce, Ctx));
        Assert.Contains("signature", CertificateRole.CoordinatorProblem(worker, coordinator.Certificate.RawData, Sig(coordinator, ChallengeResponse.NewNonce(), Ctx), nonce, Ctx));
        Assert.Contains("signature", CertificateRole.CoordinatorProblem(worker, coordinator.Certificate.RawData, Sig(coordinator, nonce, Ctx with { RunId = "run-2" }), nonce, Ctx));
        Assert.Contains("no coordinator certificate", CertificateRole.CoordinatorProblem(worker, [], [], nonce, Ctx));
        Assert.Contains("cannot be read", CertificateRole.CoordinatorProblem(worker, [1, 2, 3], [4], nonce, Ctx));
    }

    [Fact]
    public void The_pin_takes_only_the_join_address_by_port_and_by_what_its_host_resolves_to()
    {
        var pin = CoordinatorPin.For(new Akka.Actor.Address("akka.tcp", "distrnn", "127.0.0.1", 4053));
        Assert.True(pin.Matches(new Akka.Actor.Address("akka.tcp", "distrnn", "127.0.0.1", 4053)));
        Assert.True(pin.Matches(new Akka.Actor.Address("akka.tcp", "distrnn", "localhost", 4053)));
        Assert.True(pin.Matches(new Akka.Actor.Address("akka.tcp", "distrnn", "::ffff:127.0.0.1", 4053)));
        Assert.False(pin.Matches(new Akka.Actor.Address("akka.tcp", "distrnn", "127.0.0.1", 4054)));
        Assert.False(pin.Matches(new Akka.Actor.Address("akka.tcp", "distrnn", "127.0.0.2", 4053)));
        Assert.False(pin.Matches(new Akka.Actor.Address("akka.tcp", "distrnn", "no-such-host.invalid", 4053)));
        var byName = CoordinatorPin.For(new Akka.Actor.Address("akka.tcp", "distrnn", "localhost", 4053));
        Assert.True(byName.Matches(new Akka.Actor.Address("akka.tcp", "distrnn", "127.0.0.1", 4053)));
    }
}
