using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace DistRnn.Tests.Cluster;

/// <summary>
/// A built executable of this repository (distrnn or distrnn-worker) run as a real process via `dotnet X.dll`,
/// its output captured. Disposing kills it (and only it) if it still runs.
/// </summary>
internal sealed class NodeProcess : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _out = new(), _err = new();

    private NodeProcess(string dll, IEnumerable<string> args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(dll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        _process = new Process { StartInfo = psi };
        _process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (_out) _out.AppendLine(e.Data); };
        _process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (_err) _err.AppendLine(e.Data); };
        _process.Start();
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public string Stdout { get { lock (_out) return _out.ToString(); } }
    public string Stderr { get { lock (_err) return _err.ToString(); } }
    public int Pid => _process.Id;

    public static NodeProcess Coordinator(params string[] args) => new(Path.Combine(AppContext.BaseDirectory, "distrnn.dll"), args);
    public static NodeProcess Worker(params string[] args) => new(WorkerDll, args);

    /// <summary>src/Worker's build output of the same configuration as these tests (the test project builds it first).</summary>
    public static string WorkerDll
    {
        get
        {
            // tests/DistRnn.Tests/bin/<Configuration>/<tfm>/
            var tfmDir = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
            string tfm = tfmDir.Name, configuration = tfmDir.Parent!.Name;
            var root = tfmDir;
            while (root is not null && !File.Exists(Path.Combine(root.FullName, "DistRnn.sln"))) root = root.Parent;
            if (root is null) throw new InvalidOperationException("cannot find the repository root above " + AppContext.BaseDirectory);
            var dll = Path.Combine(root.FullName, "src", "Worker", "bin", configuration, tfm, "distrnn-worker.dll");
            if (!File.Exists(dll)) throw new InvalidOperationException($"{dll} is missing; build the solution first");
            return dll;
        }
    }

    /// <summary>Waits for the exit (bounded); a process still running then is killed and reported as -1.</summary>
    public async Task<int> ExitAsync(TimeSpan limit)
    {
        using var cts = new CancellationTokenSource(limit);
        try { await _process.WaitForExitAsync(cts.Token); }
        catch (OperationCanceledException) { Kill(); return -1; }
        _process.WaitForExit(); // flush the output readers
        return _process.ExitCode;
    }

    public void Kill()
    {
        try { if (!_process.HasExited) _process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
    }

    public void Dispose()
    {
        Kill();
        _process.Dispose();
    }

    public static int FreePort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        int port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }
}
