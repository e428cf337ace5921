using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;

namespace DistRnn.Tests.MultiProcess;

/// <summary>
/// One program started as a real process (`dotnet X.dll …`), its stdout and stderr captured line by line.
/// Every wait is bounded and says on timeout what it waited for, with the tail of the output. Dispose kills
/// the process (SIGKILL) if it still runs, so a failing test leaves nothing behind.
/// </summary>
internal sealed class NodeProcess : IDisposable
{
    public sealed record Line(bool Error, string Text, TimeSpan At)
    {
        public override string ToString() => $"{(Error ? "err" : "out")} {At.TotalSeconds,7:F2}s  {Text}";
    }

    private readonly Process _p;
    private readonly List<Line> _lines = new();
    private readonly object _gate = new();
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly ManualResetEventSlim _outClosed = new(), _errClosed = new();
    private bool _disposed;

    private NodeProcess(string name, Process p)
    {
        Name = name;
        _p = p;
    }

    public string Name { get; }
    /// <summary>Time since this process started, on the clock of its <see cref="Line.At"/>s.</summary>
    public TimeSpan Elapsed => _clock.Elapsed;
    public int Pid { get; private set; }
    public bool HasExited => _disposed || _p.HasExited;
    /// <summary>The exit code once the process ended (128 + n for a signal n), else null.</summary>
    public int? ExitCode => HasExited && !_disposed ? _p.ExitCode : _exitCode;
    private int? _exitCode;

    /// <summary>
    /// Starts `dotnet <paramref name="dll"/> <paramref name="args"/>`; with <paramref name="through"/>, through that
    /// command, which must exec it so that the pid is dotnet's (`ip netns exec NS` runs it in a network namespace,
    /// `prlimit --nofile=N` under a descriptor limit).
    /// </summary>
    public static NodeProcess Start(string name, string dll, IEnumerable<string> args, IReadOnlyDictionary<string, string>? env = null, IReadOnlyList<string>? through = null)
    {
        var psi = new ProcessStartInfo
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
            WorkingDirectory = Executables.RepoRoot,
        };
        if (through is null)
        {
            psi.FileName = DotnetHost();
        }
        else
        {
            psi.FileName = through[0];
            foreach (var a in through.Skip(1).Append(DotnetHost())) psi.ArgumentList.Add(a);
        }
        psi.ArgumentList.Add(dll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        psi.Environment["DOTNET_NOLOGO"] = "1";
        if (env is not null)
            foreach (var (k, v) in env) psi.Environment[k] = v;

        var p = new Process { StartInfo = psi, EnableRaisingEvents = true };
        var node = new NodeProcess(name, p);
        p.OutputDataReceived += (_, e) => node.Add(false, e.Data, node._outClosed);
        p.ErrorDataReceived += (_, e) => node.Add(true, e.Data, node._errClosed);
        if (!StartWithDefaultSigint(p)) throw new InvalidOperationException($"{name}: could not start {psi.FileName}");
        node.Pid = p.Id;
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        return node;
    }

    private static readonly object StartGate = new();

    /// <summary>
    /// Starts <paramref name="p"/> with SIGINT at its default disposition, so that <see cref="Interrupt"/> is Ctrl+C at a
    /// terminal. A script's background job (`dotnet test … &amp;`, as a CI runner may start the tests) begins with SIGINT
    /// ignored, an ignored signal stays ignored across fork and exec, and .NET then never calls a SIGINT handler: the
    /// child would train on through every Interrupt. The test host's own disposition is put back at once.
    /// </summary>
    private static bool StartWithDefaultSigint(Process p)
    {
        lock (StartGate)
        {
            bool ignored = SigintIgnored("self");
            if (ignored) SysSignal(Sigint, SigDfl);
            try { return p.Start(); }
            finally { if (ignored) SysSignal(Sigint, SigIgn); }
        }
    }

    private const int Sigint = 2;
    private static readonly IntPtr SigDfl = 0, SigIgn = 1;

    /// <summary>Whether SIGINT is ignored by process <paramref name="pid"/> ("self" or a number): bit 1 of /proc's SigIgn mask.</summary>
    private static bool SigintIgnored(string pid)
    {
        if (!OperatingSystem.IsLinux()) return false;
        try
        {
            var line = File.ReadLines($"/proc/{pid}/status").FirstOrDefault(l => l.StartsWith("SigIgn:", StringComparison.Ordinal));
            return line is not null && (Convert.ToUInt64(line["SigIgn:".Length..].Trim(), 16) & (1UL << (Sigint - 1))) != 0;
        }
        catch (IOException) { return false; } // the process is gone
    }

    [DllImport("libc", EntryPoint = "signal")]
    private static extern IntPtr SysSignal(int signal, IntPtr handler);

    /// <summary>The dotnet host running this test (so the children use the same runtime).</summary>
    private static string DotnetHost()
    {
        var self = Environment.ProcessPath;
        if (self is not null && Path.GetFileNameWithoutExtension(self) == "dotnet") return self;
        var root = Environment.GetEnvironmentVariable("DOTNET_ROOT");
        if (root is not null && File.Exists(Path.Combine(root, "dotnet"))) return Path.Combine(root, "dotnet");
        return "dotnet";
    }

    private void Add(bool error, string? text, ManualResetEventSlim closed)
    {
        lock (_gate)
        {
            if (text is null) closed.Set();
            else _lines.Add(new Line(error, text, _clock.Elapsed));
            Monitor.PulseAll(_gate);
        }
    }

    public IReadOnlyList<Line> Lines
    {
        get { lock (_gate) return _lines.ToList(); }
    }

    public IEnumerable<string> StdoutLines => Lines.Where(l => !l.Error).Select(l => l.Text);

    public string Output => string.Join("\n", Lines);

    /// <summary>The last lines of output, for failure messages.</summary>
    public string Tail(int count = 40)
    {
        var lines = Lines;
        return $"--- {Name} (pid {Pid}{(ExitCode is int code ? $", exited {code}" : "")}), last {Math.Min(count, lines.Count)} of {lines.Count} lines:\n"
               + string.Join("\n", lines.Skip(Math.Max(0, lines.Count - count)));
    }

    /// <summary>
    /// Waits until a line (stdout or stderr) matches, and returns it. Looks at lines from index
    /// <paramref name="from"/> on (the count of <see cref="Lines"/> at some earlier moment) so a test can
    /// wait for something that happens after an action. Throws if the process ends first or time runs out.
    /// </summary>
    public Line WaitForLine(Func<Line, bool> match, TimeSpan timeout, string what, int from = 0)
    {
        var deadline = _clock.Elapsed + timeout;
        lock (_gate)
        {
            int next = from;
            while (true)
            {
                for (; next < _lines.Count; next++)
                    if (match(_lines[next])) return _lines[next];
                bool ended = _outClosed.IsSet && _errClosed.IsSet;
                var left = deadline - _clock.Elapsed;
                if (ended || left <= TimeSpan.Zero)
                {
                    Monitor.Exit(_gate);
                    try
                    {
                        string why = ended ? "the process ended first" : $"not within {timeout.TotalSeconds:F0} s";
                        throw new TimeoutException($"{Name}: waited for {what}: {why}\n{Tail()}");
                    }
                    finally { Monitor.Enter(_gate); }
                }
                Monitor.Wait(_gate, left < TimeSpan.FromMilliseconds(500) ? left : TimeSpan.FromMilliseconds(500));
            }
        }
    }

    public Line WaitForLine(string contains, TimeSpan timeout, int from = 0) =>
        WaitForLine(l => l.Text.Contains(contains, StringComparison.Ordinal), timeout, $"a line containing \"{contains}\"", from);

    /// <summary>Waits for the process to end and its output to be read; kills it and throws when it does not end in time.</summary>
    public int WaitForExit(TimeSpan timeout)
    {
        if (!_p.WaitForExit(timeout))
        {
            var tail = Tail();
            Kill();
            throw new TimeoutException($"{Name} did not exit within {timeout.TotalSeconds:F0} s; killed it\n{tail}");
        }
        // the pipes close when the process (and anything it started) is gone; bounded all the same
        _outClosed.Wait(TimeSpan.FromSeconds(10));
        _errClosed.Wait(TimeSpan.FromSeconds(10));
        return _p.ExitCode;
    }

    /// <summary>SIGKILL: no handler, no checkpoint, no goodbye — a crash or a pulled plug.</summary>
    public void Kill()
    {
        try
        {
            if (!_p.HasExited) _p.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException) { /* already gone */ }
        catch (System.ComponentModel.Win32Exception) { /* already gone */ }
        _p.WaitForExit(10_000);
    }

    /// <summary>SIGTERM (what `kill PID` or a service manager sends): the program stops cleanly by itself.</summary>
    public void Terminate() => Signal(15);

    /// <summary>SIGINT (Ctrl+C).</summary>
    public void Interrupt()
    {
        if (SigintIgnored(Pid.ToString(System.Globalization.CultureInfo.InvariantCulture)))
            throw new InvalidOperationException($"{Name} (pid {Pid}) ignores SIGINT: a Ctrl+C could not reach it");
        Signal(Sigint);
    }

    private void Signal(int signal)
    {
        if (_p.HasExited) return;
        if (OperatingSystem.IsWindows()) throw new PlatformNotSupportedException("POSIX signals");
        if (SysKill(Pid, signal) != 0 && !_p.HasExited)
            throw new InvalidOperationException($"{Name}: kill({Pid}, {signal}) failed with errno {Marshal.GetLastWin32Error()}");
    }

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int SysKill(int pid, int signal);

    public void Dispose()
    {
        if (_disposed) return;
        Kill();
        try { _exitCode = _p.ExitCode; } catch (InvalidOperationException) { }
        _disposed = true;
        _p.Dispose();
    }
}
