using System.CommandLine;
using DistRnn.Configuration;
using DistRnn.Coordinator.Commands;
using DistRnn.Coordinator.Training;

namespace DistRnn.Coordinator;

/// <summary>
/// The distrnn command line. Exit codes: 0 success, 2 bad input or usage (one line on stderr naming the
/// problem), 1 runtime failure, 3 the training diverged (deterministic: restarting it changes nothing). No stack
/// trace unless --verbose.
/// </summary>
public static class Cli
{
    public const int Ok = 0, Failure = 1, BadInput = 2, Diverged = 3;

    public static RootCommand Build()
    {
        var root = new RootCommand("DistRnn: distributed, reproducible training of character-level Elman RNN language models.");
        root.Subcommands.Add(TrainCommand.Create());
        root.Subcommands.Add(GradCommand.Create());
        root.Subcommands.Add(SampleCommand.Create());
        root.Subcommands.Add(CompleteCommand.Create());
        root.Subcommands.Add(EvalCommand.Create());
        root.Subcommands.Add(InspectCommand.Create());
        root.Subcommands.Add(BenchCommand.Create());
        root.Subcommands.Add(ExplainCommand.Create());
        HelpNames.Apply(root);
        return root;
    }

    private static readonly CancellationTokenSource ShutdownSource = new();

    /// <summary>Cancelled on SIGINT (Ctrl+C) or SIGTERM: long commands stop cleanly (train writes a checkpoint first).</summary>
    public static CancellationToken Shutdown => ShutdownSource.Token;

    public static async Task<int> RunAsync(string[] args)
    {
        // Our own handlers rather than System.CommandLine's, which ends the process after a fixed timeout.
        using var sigint = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGINT, OnSignal);
        using var sigterm = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, OnSignal);
        var root = Build();
        ConfigFile.Expansion? config = null;
        bool help = args.Contains("--help") || args.Contains("-h") || args.Contains("-?");
        bool verbose = args.Contains("--verbose");
        // One try around everything, the --config expansion included: no input reaches the runtime's handler.
        try
        {
            config = help ? null : ConfigFile.Expand(root, args);
            var parse = root.Parse(config?.Args ?? args);
            if (parse.Errors.Count > 0 && !help)
            {
                // "Unrecognized command or argument 'x'" says more than the "required command" error that comes with it.
                var error = parse.Errors.FirstOrDefault(e => e.Message.StartsWith("Unrecognized", StringComparison.Ordinal)) ?? parse.Errors[0];
                Console.Error.WriteLine($"error: {OneLine(config?.Attribute(error) ?? error.Message)} (see --help)");
                return BadInput;
            }
            verbose = parse.GetResult(Options.Verbose) is { Implicit: false } && parse.GetValue(Options.Verbose);
            return await parse.InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false, ProcessTerminationTimeout = null });
        }
        catch (InputException e)
        {
            Console.Error.WriteLine($"error: {OneLine(config?.Attribute(e.Message) ?? e.Message)}");
            return BadInput;
        }
        catch (DivergedException e)
        {
            Console.Error.WriteLine($"error: {OneLine(e.Message)}");
            return Diverged; // its own code: a restart-on-failure unit must not restart a run that would diverge again
        }
        catch (OperationCanceledException)
        {
            Console.Error.WriteLine("error: cancelled");
            return Failure;
        }
        catch (Exception e)
        {
            Console.Error.WriteLine($"error: {OneLine(e.Message)}");
            if (verbose) Console.Error.WriteLine(e);
            return Failure;
        }
    }

    private static void OnSignal(System.Runtime.InteropServices.PosixSignalContext context)
    {
        context.Cancel = true; // keep the process alive until the command has stopped cleanly
        if (ShutdownSource.IsCancellationRequested) Environment.Exit(Failure); // a second signal: stop now
        Console.Error.WriteLine($"{context.Signal} received: stopping after the current step (send it again to stop at once)");
        ShutdownSource.Cancel();
    }

    public static string OneLine(string s) => s.Replace("\r", " ").Replace("\n", " ");
}
