using System.CommandLine;
using DistRnn.Cli.Commands;
using DistRnn.Training;

namespace DistRnn.Cli;

/// <summary>
/// The distrnn command line. Exit codes: 0 success, 2 bad input or usage (one line on stderr naming the
/// problem), 1 runtime failure. No stack trace unless --verbose.
/// </summary>
public static class Cli
{
    public const int Ok = 0, Failure = 1, BadInput = 2;

    public static RootCommand Build()
    {
        var root = new RootCommand("DistRnn: distributed, reproducible training of character-level Elman RNN language models.");
        root.Subcommands.Add(TrainCommand.Create());
        root.Subcommands.Add(GradCommand.Create());
        root.Subcommands.Add(SampleCommand.Create());
        root.Subcommands.Add(EvalCommand.Create());
        root.Subcommands.Add(InspectCommand.Create());
        return root;
    }

    public static async Task<int> RunAsync(string[] args)
    {
        var root = Build();
        var parse = root.Parse(args);
        if (parse.Errors.Count > 0 && !args.Contains("--help") && !args.Contains("-h"))
        {
            // "Unrecognized command or argument 'x'" says more than the "required command" error that comes with it.
            var error = parse.Errors.FirstOrDefault(e => e.Message.StartsWith("Unrecognized", StringComparison.Ordinal)) ?? parse.Errors[0];
            Console.Error.WriteLine($"error: {OneLine(error.Message)} (see --help)");
            return BadInput;
        }
        bool verbose = args.Contains("--verbose");
        try
        {
            return await parse.InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
        }
        catch (InputException e)
        {
            Console.Error.WriteLine($"error: {OneLine(e.Message)}");
            return BadInput;
        }
        catch (DivergedException e)
        {
            Console.Error.WriteLine($"error: {OneLine(e.Message)}");
            return Failure;
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

    public static string OneLine(string s) => s.Replace("\r", " ").Replace("\n", " ");
}
