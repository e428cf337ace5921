namespace DistRnn.Tests.MultiProcess;

/// <summary>
/// Where the built programs are: the coordinator (`distrnn`) and the worker node, in their own
/// bin/CONFIGURATION/FRAMEWORK folders beside this test assembly's (the test project references both, so
/// `dotnet test` builds them first). Each is run as `dotnet PROGRAM.dll`, the way a user would run it.
/// </summary>
internal static class Executables
{
    private static readonly Lazy<string> Root = new(FindRepoRoot);

    /// <summary>The folder holding DistRnn.sln.</summary>
    public static string RepoRoot => Root.Value;

    /// <summary>Release or Debug: the configuration this test assembly was built in (…/bin/CONFIG/FRAMEWORK/).</summary>
    public static string Configuration => Path.GetFileName(Path.GetDirectoryName(BaseDir)!) ?? "Release";

    public static string Framework => Path.GetFileName(BaseDir) ?? "net10.0";

    private static string BaseDir => AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar);

    public static string Coordinator => Program("src/Coordinator");

    public static string Worker => Program("src/Worker");

    /// <summary>The entry assembly of the project at <paramref name="projectDir"/> (the dll beside its runtimeconfig.json).</summary>
    public static string Program(string projectDir)
    {
        var dir = Path.Combine(RepoRoot, projectDir, "bin", Configuration, Framework);
        var config = Directory.Exists(dir) ? Directory.GetFiles(dir, "*.runtimeconfig.json") : [];
        if (config.Length != 1)
            throw new FileNotFoundException($"no single built program in {dir} (found {config.Length}); build the solution with -c {Configuration} first");
        var dll = config[0][..^".runtimeconfig.json".Length] + ".dll";
        if (!File.Exists(dll)) throw new FileNotFoundException($"{dll} is missing beside its runtimeconfig.json");
        return dll;
    }

    private static string FindRepoRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "DistRnn.sln"))) return d.FullName;
        throw new DirectoryNotFoundException($"DistRnn.sln not found above {AppContext.BaseDirectory}");
    }
}
