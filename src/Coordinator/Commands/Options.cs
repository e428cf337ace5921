using System.CommandLine;
using System.CommandLine.Parsing;

namespace DistRnn.Coordinator.Commands;

/// <summary>Option helpers shared by the commands, so names and wording stay consistent.</summary>
internal static class Options
{
    public static Option<T> Make<T>(string name, string description, T defaultValue) =>
        new(name) { Description = description, DefaultValueFactory = _ => defaultValue };

    public static Option<T?> Optional<T>(string name, string description) =>
        new(name) { Description = description };

    public static Option<string> Required(string name, string description) =>
        new(name) { Description = description, Required = true };

    /// <summary>True when the user typed the option (not its default).</summary>
    public static bool Given(this ParseResult parse, Option option) => parse.GetResult(option) is { Implicit: false };

    /// <summary>The environment variables the commands read, checked like options: an odd value is bad input, not silently a default.</summary>
    public static void CheckEnvironment()
    {
        DistRnn.Transport.DataChannel.DataChannelSwitch.Read();
    }

    public static readonly Option<bool> Verbose = new("--verbose") { Description = "More detail: Akka logs (cluster runs) and the stack trace of a failure" };
}
