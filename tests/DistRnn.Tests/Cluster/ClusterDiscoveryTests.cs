using DistRnn.Transport.Bootstrap;
using DistRnn.Worker.Node;

namespace DistRnn.Tests.Cluster;

/// <summary>The bootstrap options as given (<see cref="ClusterDiscovery.FromOptions"/>) and the pin a worker found through discovery uses.</summary>
public sealed class ClusterDiscoveryTests
{
    [Fact]
    public void Config_discovery_lists_every_contact_point_and_needs_them_all_before_a_new_cluster_forms()
    {
        var d = ClusterDiscovery.FromOptions("config", "127.0.0.1:8558, 127.0.0.1:8559,10.0.0.3:8558", "127.0.0.1:8559", "127.0.0.1")!;
        Assert.Equal(DiscoveryMethod.Config, d.Method);
        Assert.Equal([("127.0.0.1", 8558), ("127.0.0.1", 8559), ("10.0.0.3", 8558)], d.ContactPoints);
        Assert.Equal(3, d.RequiredContactPoints);
        Assert.Equal(("127.0.0.1", 8559), (d.ManagementHost, d.ManagementPort));
        string hocon = d.Hocon();
        // Akka.NET's config discovery reads "host:port" strings; every contact point counts whatever its port
        Assert.Contains("\"127.0.0.1:8558\", \"127.0.0.1:8559\", \"10.0.0.3:8558\"", hocon);
        Assert.Contains("filter-on-fallback-port = false", hocon);
        Assert.Contains("required-contact-point-nr = 3", hocon);
        var parsed = Akka.Configuration.ConfigurationFactory.ParseString(hocon);
        Assert.Equal(["127.0.0.1:8558", "127.0.0.1:8559", "10.0.0.3:8558"], parsed.GetStringList("akka.discovery.config.services.distrnn.endpoints"));
        Assert.Equal(HealthRoutes.TypeName, parsed.GetString("akka.management.http.routes.distrnn-health"));
    }

    [Fact]
    public void Management_defaults_to_the_node_host_on_port_8558()
    {
        var d = ClusterDiscovery.FromOptions("config", "10.1.1.1:8558,10.1.1.2:8558", null, "10.1.1.2")!;
        Assert.Equal(("10.1.1.2", ClusterDiscovery.DefaultManagementPort), (d.ManagementHost, d.ManagementPort));
        Assert.Null(ClusterDiscovery.FromOptions(null, null, null, "127.0.0.1"));
    }

    [Theory]
    [InlineData("dns", null, null, "--discovery dns: expected config or kubernetes")]
    [InlineData("config", null, null, "--discovery config needs --contact-points")]
    [InlineData("config", "127.0.0.1:8558,127.0.0.1:8558", null, "listed twice")]
    [InlineData("config", "127.0.0.1:8558", "127.0.0.1:8600", "this node's management endpoint 127.0.0.1:8600 (--management) is not among them")]
    [InlineData("config", "127.0.0.1", null, "--contact-points 127.0.0.1: expected HOST:PORT")]
    [InlineData("kubernetes", "127.0.0.1:8558", null, "--contact-points is for --discovery config")]
    [InlineData(null, "127.0.0.1:8558", null, "--contact-points needs --discovery config")]
    [InlineData(null, null, "127.0.0.1:8558", "--management needs --discovery")]
    public void Bad_options_are_one_line_naming_the_option(string? discovery, string? contacts, string? management, string expected)
    {
        var e = Assert.Throws<InputException>(() => ClusterDiscovery.FromOptions(discovery, contacts, management, "127.0.0.1"));
        Assert.Contains(expected, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void Kubernetes_discovery_binds_every_interface_and_takes_the_pod_count_from_the_environment()
    {
        var old = Environment.GetEnvironmentVariable(ClusterDiscovery.RequiredVariable);
        try
        {
            Environment.SetEnvironmentVariable(ClusterDiscovery.RequiredVariable, "4");
            var d = ClusterDiscovery.FromOptions("kubernetes", null, null, "10.2.0.7")!;
            Assert.Equal((DiscoveryMethod.Kubernetes, 4, "0.0.0.0", "10.2.0.7"), (d.Method, d.RequiredContactPoints, d.ManagementBind, d.ManagementHost));
            var parsed = Akka.Configuration.ConfigurationFactory.ParseString(d.Hocon());
            Assert.Equal("kubernetes-api", parsed.GetString("akka.discovery.method"));
            Assert.Equal("management", parsed.GetString("akka.management.cluster.bootstrap.contact-point-discovery.port-name"));
        }
        finally { Environment.SetEnvironmentVariable(ClusterDiscovery.RequiredVariable, old); }
    }

    [Fact]
    public void A_worker_found_through_config_discovery_takes_a_coordinator_only_on_a_contact_point_host()
    {
        var pin = CoordinatorPin.OnHosts(["127.0.0.1"]);
        Assert.True(pin.Matches(new Akka.Actor.Address("akka.tcp", "distrnn", "127.0.0.1", 4053)));
        Assert.True(pin.Matches(new Akka.Actor.Address("akka.tcp", "distrnn", "127.0.0.1", 39001))); // any port: the coordinator's is not known
        Assert.False(pin.Matches(new Akka.Actor.Address("akka.tcp", "distrnn", "10.9.9.9", 4053)));
        Assert.True(CoordinatorPin.OnHosts(null).Matches(new Akka.Actor.Address("akka.tcp", "distrnn", "10.9.9.9", 4053))); // kubernetes: the secret and TLS roles decide
        Assert.False(CoordinatorPin.For(new Akka.Actor.Address("akka.tcp", "distrnn", "127.0.0.1", 4053)).Matches(new Akka.Actor.Address("akka.tcp", "distrnn", "127.0.0.1", 4054)));
    }
}
