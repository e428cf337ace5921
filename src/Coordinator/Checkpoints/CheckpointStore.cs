using System.Globalization;
using System.Text.RegularExpressions;

namespace DistRnn.Coordinator.Checkpoints;

/// <summary>
/// The checkpoints of a run folder: ckpt-&lt;step&gt;.bin (the newest few kept) and best.bin (lowest validation
/// loss, kept apart). Resolves "a file or a folder meaning its newest valid checkpoint".
/// </summary>
public static partial class CheckpointStore
{
    public const string BestName = "best.bin";

    // ASCII digits only (\d also matches other scripts' digits), so a stray file is never parsed as a step.
    [GeneratedRegex(@"^ckpt-([0-9]+)\.bin$", RegexOptions.CultureInvariant)]
    private static partial Regex CheckpointName();

    public static string PathFor(string dir, long step) => Path.Combine(dir, $"ckpt-{step.ToString("D8", CultureInfo.InvariantCulture)}.bin");

    /// <summary>ckpt-*.bin files of a folder, newest step first; a name whose step is not a number that fits is not a checkpoint.</summary>
    public static IEnumerable<(long Step, string Path)> List(string dir)
    {
        if (!Directory.Exists(dir)) return [];
        var found = new List<(long Step, string Path)>();
        foreach (var p in Directory.EnumerateFiles(dir, "ckpt-*.bin"))
        {
            var m = CheckpointName().Match(Path.GetFileName(p));
            if (m.Success && long.TryParse(m.Groups[1].Value, NumberStyles.None, CultureInfo.InvariantCulture, out long step))
                found.Add((step, p));
        }
        return found.OrderByDescending(x => x.Step);
    }

    /// <summary>
    /// PATH as a file: load it (a defect is an error). PATH as a folder: the newest checkpoint that verifies;
    /// each one skipped is reported through <paramref name="warn"/> with its name and defect.
    /// </summary>
    public static Checkpoint Resolve(string path, string option, Action<string> warn)
    {
        if (File.Exists(path)) return Checkpoint.Load(path);
        if (!Directory.Exists(path)) throw new InputException($"{option} {path}: no such file or folder");
        foreach (var (_, file) in List(path))
        {
            try { return Checkpoint.Load(file); }
            catch (InputException e) { warn($"warning: skipping {e.Message}"); }
        }
        throw new InputException($"{option} {path}: the folder holds no valid checkpoint (ckpt-*.bin)");
    }

    /// <summary>
    /// A resume from an older checkpoint starts a new timeline in the folder: moves the step checkpoints of
    /// <paramref name="dir"/> after <paramref name="step"/> (and then a best.bin taken after it) into
    /// dir/abandoned-&lt;time&gt;/, so that neither `--resume DIR` nor the last good checkpoint of a stopped run
    /// can be one of them. Returns the folder and the names moved; nothing is created when none is later.
    /// </summary>
    public static (string Folder, IReadOnlyList<string> Moved) SetAsideAfter(string dir, long step)
    {
        var later = List(dir).Where(c => c.Step > step).Select(c => c.Path).ToList();
        var best = Path.Combine(dir, BestName);
        if (later.Count > 0 && File.Exists(best) && StepOf(best) > step) later.Add(best);
        var stamp = $"abandoned-{DateTime.UtcNow.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture)}";
        var aside = Path.Combine(dir, stamp);
        for (int i = 2; Directory.Exists(aside); i++) aside = Path.Combine(dir, $"{stamp}-{i}");
        if (later.Count == 0) return (aside, []);
        Directory.CreateDirectory(aside);
        foreach (var file in later) File.Move(file, Path.Combine(aside, Path.GetFileName(file)));
        AtomicFile.SyncDirectory(aside);
        AtomicFile.SyncDirectory(dir);
        return (aside, later.Select(Path.GetFileName).ToList()!);
    }

    /// <summary>A best.bin that does not load is no timeline's: it stays where it is.</summary>
    private static long StepOf(string path)
    {
        try { return Checkpoint.Load(path).Header.Step; }
        catch (InputException) { return long.MinValue; }
    }

    /// <summary>Deletes all but the newest <paramref name="keep"/> step checkpoints.</summary>
    public static void Prune(string dir, int keep)
    {
        if (keep <= 0) return;
        foreach (var (_, file) in List(dir).Skip(keep))
        {
            try { File.Delete(file); } catch (IOException) { /* a reader may hold it; next prune retries */ }
        }
    }
}
