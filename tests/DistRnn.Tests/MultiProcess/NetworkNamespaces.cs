using System.Diagnostics;

namespace DistRnn.Tests.MultiProcess;

/// <summary>
/// deploy/netns.sh from the tests: a node in its own network namespace (10.213.0.N behind a bridge at
/// 10.213.0.1) that can be cut off and healed. Disposing removes the namespace.
/// </summary>
internal sealed class NetworkNamespace : IDisposable
{
    private static readonly Lazy<string?> Unavailable = new(() =>
    {
        if (!OperatingSystem.IsLinux()) return "network namespaces need Linux";
        var (code, output) = Script(["check"]);
        return code == 0 ? null : $"network namespaces are not available here: {output.Trim()}";
    });

    /// <summary>Why namespaces cannot be used here (not root, no iproute2, not permitted), or null.</summary>
    public static string? WhyUnavailable => Unavailable.Value;

    private bool _disposed;

    public NetworkNamespace(string node, int suffix)
    {
        Node = node;
        var (code, output) = Script(["up", node, suffix.ToString()]);
        if (code != 0) throw new InvalidOperationException($"netns.sh up {node} {suffix} failed: {output}");
        Address = output.Trim();
    }

    public string Node { get; }
    /// <summary>The `ip netns` name (for `ip netns exec`).</summary>
    public string Name => $"drnn-{Node}";
    /// <summary>The node's address inside its namespace.</summary>
    public string Address { get; }
    /// <summary>The host side of the bridge: where the coordinator listens.</summary>
    public const string HostAddress = "10.213.0.1";

    public void Cut() => Run("cut");
    public void Heal() => Run("heal");

    private void Run(string command)
    {
        var (code, output) = Script([command, Node]);
        if (code != 0) throw new InvalidOperationException($"netns.sh {command} {Node} failed: {output}");
    }

    public static (int Code, string Output) Script(IEnumerable<string> args)
    {
        var psi = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(Path.Combine(Executables.RepoRoot, "deploy", "netns.sh"));
        foreach (var a in args) psi.ArgumentList.Add(a);
        try
        {
            using var p = Process.Start(psi)!;
            var stdout = p.StandardOutput.ReadToEndAsync();
            var stderr = p.StandardError.ReadToEndAsync();
            if (!p.WaitForExit(30_000)) { p.Kill(true); return (-1, "netns.sh did not finish within 30 s"); }
            return (p.ExitCode, stdout.Result + stderr.Result);
        }
        catch (System.ComponentModel.Win32Exception e) { return (-1, $"cannot run bash: {e.Message}"); }
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        Script(["down", Node]);
    }
}

/// <summary>A fact that is skipped, with the reason, where network namespaces cannot be made.</summary>
public sealed class NetnsFactAttribute : FactAttribute
{
    public NetnsFactAttribute()
    {
        if (NetworkNamespace.WhyUnavailable is string why) Skip = why;
    }
}
