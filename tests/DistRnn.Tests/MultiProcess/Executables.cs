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

    public static string Coordinator => Program("src/Coordinator", "distrnn");

    public static string Worker => Program("src/Worker", "distrnn-worker");

    /// <summary>
    /// The program <paramref name="name"/>.dll of the project at <paramref name="projectDir"/>, beside its runtimeconfig.json
    /// (the coordinator's folder also holds the worker's program, which it references for its local workers).
    /// </summary>
    public static string Program(string projectDir, string name)
    {
        var dir = Path.Combine(RepoRoot, projectDir, "bin", Configuration, Framework);
        var dll = Path.Combine(dir, name + ".dll");
        if (!File.Exists(dll) || !File.Exists(Path.Combine(dir, name + ".runtimeconfig.json")))
            throw new FileNotFoundException($"{dll} (with its runtimeconfig.json) is not built; build the solution with -c {Configuration} first");
        return dll;
    }

    private static string FindRepoRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "DistRnn.sln"))) return d.FullName;
        throw new DirectoryNotFoundException($"DistRnn.sln not found above {AppContext.BaseDirectory}");
    }
}
