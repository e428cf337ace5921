using System.Text.RegularExpressions;
using DistRnn.Tests.MultiProcess;
using Xunit;

namespace DistRnn.Tests.Cli;

/// <summary>
/// The documentation cannot drift from the program: every option a command's `--help` lists has a row in that
/// command's table in docs/cli.md, the README links every docs page, and every relative link in README.md and
/// docs/ leads to a file (and heading) that exists.
/// </summary>
[Collection("Console")]
public sealed partial class DocsCliTests
{
    private const string Worker = "distrnn-worker";

    /// <summary>Options System.CommandLine adds by itself: documented once, under "Options of every command".</summary>
    private static readonly string[] BuiltIn = ["--help", "--version"];

    private const string CommonSection = "Options of every command";

    public static TheoryData<string> Commands()
    {
        var data = new TheoryData<string>();
        foreach (var c in DistRnn.Coordinator.Cli.Build().Subcommands) data.Add(c.Name);
        data.Add(Worker);
        return data;
    }

    /// <summary>Each option `CMD --help` prints has a table row `| `--name …` |` in docs/cli.md's "## CMD" section.</summary>
    [Theory]
    [MemberData(nameof(Commands))]
    public async Task Every_option_in_help_has_a_row_in_docs_cli(string name)
    {
        var r = name == Worker ? await CliRunner.RunWorker("--help") : await CliRunner.Run(name, "--help");
        Assert.True(r.Code == 0, r.ToString());
        var listed = OptionsInHelp(r.Out);
        // The help parser itself must not miss anything: it finds every visible option of the command.
        if (name == Worker) Assert.Contains("--join", listed);
        else
            foreach (var option in DistRnn.Coordinator.Cli.Build().Subcommands.Single(c => c.Name == name).Options.Where(o => !o.Hidden))
                Assert.True(listed.Contains(option.Name), $"{option.Name} of {name} not found in its --help:\n{r.Out}");

        var cli = File.ReadAllText(DocPath("docs/cli.md"));
        var section = Section(cli, name);
        Assert.True(section is not null, $"docs/cli.md has no section \"## {name}\" (the `{Program(name)} --help` options belong in its table)");
        var common = Section(cli, CommonSection) ?? "";
        var missing = listed.Where(o => !HasRow(BuiltIn.Contains(o) ? common : section!, o)).ToList();
        Assert.True(missing.Count == 0,
            $"docs/cli.md, section \"## {name}\": no table row for {string.Join(", ", missing)} (listed by `{Program(name)} --help`); " +
            $"add a row | `--name VALUE` | default | meaning | for each to that section's table{(missing.Any(BuiltIn.Contains) ? $" (built-in options go under \"## {CommonSection}\")" : "")}");
    }

    /// <summary>The README is the way in: it links every page under docs/.</summary>
    [Fact]
    public void Readme_links_every_docs_page()
    {
        var readme = File.ReadAllText(DocPath("README.md"));
        var targets = Links(readme).Select(l => l.Split('#')[0]).ToHashSet(StringComparer.Ordinal);
        var pages = Directory.GetFiles(DocPath("docs"), "*.md").Select(p => "docs/" + Path.GetFileName(p)).Order(StringComparer.Ordinal).ToList();
        Assert.NotEmpty(pages);
        var unlinked = pages.Where(p => !targets.Contains(p)).ToList();
        Assert.True(unlinked.Count == 0, $"README.md does not link {string.Join(", ", unlinked)} (add it under \"Where to read on\")");
    }

    /// <summary>Every relative link (and #heading) in README.md and docs/*.md leads somewhere that exists.</summary>
    [Fact]
    public void Every_relative_link_in_the_docs_resolves()
    {
        var files = new[] { DocPath("README.md") }.Concat(Directory.GetFiles(DocPath("docs"), "*.md")).ToList();
        var broken = new List<string>();
        int checkedLinks = 0;
        foreach (var file in files)
        {
            string rel = Path.GetRelativePath(Executables.RepoRoot, file);
            foreach (var link in Links(File.ReadAllText(file)))
            {
                if (SchemeRx().IsMatch(link) || link.StartsWith('/')) continue; // a URL, or an absolute path: not ours to check
                checkedLinks++;
                var (path, anchor) = link.IndexOf('#') is int i and >= 0 ? (link[..i], link[(i + 1)..]) : (link, null);
                string target = path.Length == 0 ? file : Path.GetFullPath(Path.Combine(Path.GetDirectoryName(file)!, Uri.UnescapeDataString(path)));
                if (!File.Exists(target) && !Directory.Exists(target)) { broken.Add($"{rel}: ({link}): no such file"); continue; }
                if (anchor is not null && target.EndsWith(".md", StringComparison.Ordinal) && !Anchors(File.ReadAllText(target)).Contains(anchor))
                    broken.Add($"{rel}: ({link}): {Path.GetFileName(target)} has no heading with the anchor #{anchor}");
            }
        }
        Assert.True(checkedLinks > 10, $"only {checkedLinks} relative links found: the link parser is broken");
        Assert.True(broken.Count == 0, "broken links:\n" + string.Join("\n", broken));
    }

    /// <summary>The two set-up commands stay in the README exactly, and .ci/run runs the README's test command.</summary>
    [Fact]
    public void The_set_up_commands_stay_in_the_readme()
    {
        var readme = File.ReadAllText(DocPath("README.md"));
        const string train = "dotnet run --project src/Coordinator -c Release -- train", test = "dotnet test DistRnn.sln -c Release";
        Assert.Contains($"```bash\n{train}\n```", readme);
        Assert.Contains($"```bash\n{test}\n```", readme);
        Assert.Contains(test, File.ReadAllText(DocPath(".ci/run")));
    }

    private static string Program(string name) => name == Worker ? Worker : $"distrnn {name}";

    private static string DocPath(string rel) => Path.Combine(Executables.RepoRoot, rel);

    /// <summary>The long names of the options a --help lists: its "Options:" lines start with two spaces and a dash.</summary>
    private static HashSet<string> OptionsInHelp(string help)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var line in help.Replace("\r", "").Split('\n'))
        {
            if (!line.StartsWith("  -", StringComparison.Ordinal)) continue;
            string namesColumn = DoubleSpaceRx().Split(line.Trim(), 2)[0]; // "-?, -h, --help" or "--top <K>"
            foreach (Match m in LongNameRx().Matches(namesColumn)) names.Add(m.Value);
        }
        return names;
    }

    /// <summary>The text of "## TITLE" up to the next "## " heading (its "###" subsections included), or null.</summary>
    private static string? Section(string markdown, string title)
    {
        var m = Regex.Match(markdown, $@"^## {Regex.Escape(title)}[ \t]*$", RegexOptions.Multiline);
        if (!m.Success) return null;
        int start = m.Index + m.Length;
        var next = Regex.Match(markdown[start..], @"^## ", RegexOptions.Multiline);
        return next.Success ? markdown.Substring(start, next.Index) : markdown[start..];
    }

    /// <summary>A table row whose first cell starts with `--name` (followed by a space, a backtick or a parenthesis).</summary>
    private static bool HasRow(string section, string option) =>
        Regex.IsMatch(section, $@"^\|\s*`{Regex.Escape(option)}(?![\w-])", RegexOptions.Multiline);

    /// <summary>The targets of the inline links and images outside code (fenced blocks and `spans`).</summary>
    private static IEnumerable<string> Links(string markdown)
    {
        foreach (var line in OutsideFences(markdown))
            foreach (Match m in LinkRx().Matches(CodeSpanRx().Replace(line, "")))
                yield return m.Groups[1].Value;
    }

    /// <summary>GitHub's anchors: each heading's slug (lower case, punctuation dropped, spaces to hyphens, -1, -2 … for repeats) and every &lt;a id&gt;.</summary>
    private static HashSet<string> Anchors(string markdown)
    {
        var anchors = new HashSet<string>(StringComparer.Ordinal);
        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var line in OutsideFences(markdown))
        {
            foreach (Match a in HtmlAnchorRx().Matches(line)) anchors.Add(a.Groups[1].Value);
            var h = HeadingRx().Match(line);
            if (!h.Success) continue;
            string slug = SlugDropRx().Replace(h.Groups[1].Value.Trim().ToLowerInvariant(), "").Replace(' ', '-');
            int n = seen.GetValueOrDefault(slug);
            seen[slug] = n + 1;
            anchors.Add(n == 0 ? slug : $"{slug}-{n}");
        }
        return anchors;
    }

    private static IEnumerable<string> OutsideFences(string markdown)
    {
        bool inFence = false;
        foreach (var line in markdown.Replace("\r", "").Split('\n'))
        {
            if (line.TrimStart().StartsWith("```", StringComparison.Ordinal)) { inFence = !inFence; continue; }
            if (!inFence) yield return line;
        }
    }

    [GeneratedRegex(@"\s{2,}")] private static partial Regex DoubleSpaceRx();
    [GeneratedRegex(@"(?<![\w-])--\w[\w-]*")] private static partial Regex LongNameRx();
    [GeneratedRegex(@"!?\[[^\]]*\]\(([^)\s]+)(?:\s+""[^""]*"")?\)")] private static partial Regex LinkRx();
    [GeneratedRegex(@"`[^`]*`")] private static partial Regex CodeSpanRx();
    [GeneratedRegex(@"^#{1,6}\s+(.+?)\s*#*\s*$")] private static partial Regex HeadingRx();
    [GeneratedRegex(@"[^\p{L}\p{M}\p{N}\p{Pc} -]")] private static partial Regex SlugDropRx();
    [GeneratedRegex(@"<a\s+(?:id|name)=""([^""]+)""")] private static partial Regex HtmlAnchorRx();
    [GeneratedRegex(@"^[A-Za-z][A-Za-z0-9+.-]*:")] private static partial Regex SchemeRx();
}
