using System.CommandLine;
using System.CommandLine.Help;
using Xunit;

namespace DistRnn.Tests.Cli;

[Collection("Console")]
public sealed class HelpTests
{
    public static TheoryData<string> Commands()
    {
        var data = new TheoryData<string>();
        foreach (var c in DistRnn.Coordinator.Cli.Build().Subcommands) data.Add(c.Name);
        return data;
    }

    /// <summary>`distrnn CMD --help` lists every option of CMD, and shows the default of every option that has one.</summary>
    [Theory]
    [MemberData(nameof(Commands))]
    public async Task Help_lists_every_option_with_its_default(string name)
    {
        var command = DistRnn.Coordinator.Cli.Build().Subcommands.Single(c => c.Name == name);
        var r = await CliRunner.Run(name, "--help");
        Assert.True(r.Code == 0, r.ToString());
        var lines = r.Out.Split('\n');
        foreach (var option in command.Options.Where(o => o is not HelpOption))
        {
            var line = lines.FirstOrDefault(l => l.TrimStart().StartsWith(option.Name + " ", StringComparison.Ordinal) || l.TrimStart().StartsWith(option.Name + ",", StringComparison.Ordinal));
            Assert.True(line is not null, $"{name} --help does not list {option.Name}:\n{r.Out}");
            Assert.False(string.IsNullOrWhiteSpace(option.Description), $"{name} {option.Name} has no description");
            if (option.HasDefaultValue && option.ValueType != typeof(bool))
                Assert.True(line!.Contains("[default: "), $"{name} --help shows no default for {option.Name}: {line}");
        }
    }

    /// <summary>An option name means the same thing everywhere: same value type and the same placeholder in help.</summary>
    [Fact]
    public void Options_with_the_same_name_agree_across_commands()
    {
        var all = DistRnn.Coordinator.Cli.Build().Subcommands.SelectMany(c => c.Options.Select(o => (Command: c.Name, Option: o))).Where(x => x.Option is not HelpOption);
        foreach (var group in all.GroupBy(x => x.Option.Name))
        {
            Assert.True(group.Select(x => x.Option.ValueType).Distinct().Count() == 1, $"{group.Key} has different types in {string.Join(", ", group.Select(x => x.Command))}");
            // The one deliberate exception, fixed by the contract: grad's --text is a FILE, explain's --text the TEXT itself.
            var named = group.Where(x => !(x.Option.Name == "--text" && x.Command == "explain"));
            Assert.True(named.Select(x => x.Option.HelpName).Distinct().Count() <= 1, $"{group.Key} has different help names in {string.Join(", ", group.Select(x => x.Command))}");
        }
    }

    [Fact]
    public async Task A_usage_error_is_one_line_and_exit_2()
    {
        var r = await CliRunner.Run("complete", "--checkpoint", "x", "--top", "many", "--prefix", "a");
        Assert.Equal(2, r.Code);
        Assert.Single(r.Err.TrimEnd('\n').Split('\n'));
        Assert.Contains("--top", r.Err);
    }
}
