namespace DistRnn.Tests.Cli;

/// <summary>Runs the distrnn (or distrnn-worker) command line in-process with Console.Out/Error captured (use from the "Console" collection).</summary>
internal static class CliRunner
{
    public sealed record Result(int Code, string Out, string Err)
    {
        /// <summary>Everything, for assertion messages.</summary>
        public override string ToString() => $"exit {Code}\n--- stdout ---\n{Out}\n--- stderr ---\n{Err}";
    }

    public static Task<Result> Run(params string[] args) => Capture(() => DistRnn.Coordinator.Cli.RunAsync(args));

    public static Task<Result> RunWorker(params string[] args) => Capture(() => DistRnn.Worker.WorkerCli.RunAsync(args));

    private static async Task<Result> Capture(Func<Task<int>> run)
    {
        var oldOut = Console.Out; var oldErr = Console.Error;
        var o = new StringWriter(); var e = new StringWriter();
        Console.SetOut(o); Console.SetError(e);
        try
        {
            int code = await run();
            return new Result(code, o.ToString(), e.ToString());
        }
        finally
        {
            Console.SetOut(oldOut); Console.SetError(oldErr);
        }
    }
}
