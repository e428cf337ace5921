using System.Net;
using System.Net.Sockets;

namespace DistRnn.Tests.Cli;

/// <summary>--metrics on an address that cannot be listened on: bad input, one line naming it, exit 2, nothing written.</summary>
[Collection("Console")]
public sealed class MetricsOptionTests
{
    [Fact]
    public async Task Train_on_a_taken_port_exits_2_with_one_line_before_writing_anything()
    {
        using var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        string at = $"127.0.0.1:{((IPEndPoint)taken.LocalEndpoint).Port}";
        var outDir = Path.Combine(TestUtil.TempDir(), "run");
        var r = await CliRunner.Run("train", "--workers", "0", "--steps", "2", "--hidden", "8", "--out", outDir, "--metrics", at);
        Assert.True(r.Code == 2, r.ToString());
        var line = Assert.Single(r.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith($"error: --metrics {at}: cannot listen there", line);
        Assert.False(Directory.Exists(outDir), "nothing is written");
    }

    [Theory]
    [InlineData("nonsense", "expected HOST:PORT")]
    [InlineData("127.0.0.1:0", "the port must be")]
    [InlineData("[::1]:9464", "an IPv6 address cannot be given here")]
    public async Task Train_and_the_worker_refuse_a_bad_address_with_one_line(string at, string why)
    {
        foreach (var r in new[]
                 {
                     await CliRunner.Run("train", "--workers", "0", "--steps", "2", "--out", Path.Combine(TestUtil.TempDir(), "run"), "--metrics", at),
                     await CliRunner.RunWorker("--join", "127.0.0.1:1", "--metrics", at),
                 })
        {
            Assert.True(r.Code == 2, r.ToString());
            var line = Assert.Single(r.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries));
            Assert.StartsWith($"error: --metrics {at}: ", line);
            Assert.Contains(why, line);
        }
    }
}
