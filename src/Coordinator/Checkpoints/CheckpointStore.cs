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

    [GeneratedRegex(@"^ckpt-(\d+)\.bin$")]
    private static partial Regex CheckpointName();

    public static string PathFor(string dir, long step) => Path.Combine(dir, $"ckpt-{step.ToString("D8", CultureInfo.InvariantCulture)}.bin");

    /// <summary>ckpt-*.bin files of a folder, newest step first.</summary>
    public static IEnumerable<(long Step, string Path)> List(string dir)
    {
        if (!Directory.Exists(dir)) return [];
        return Directory.EnumerateFiles(dir, "ckpt-*.bin")
            .Select(p => (Match: CheckpointName().Match(Path.GetFileName(p)), Path: p))
            .Where(x => x.Match.Success)
            .Select(x => (long.Parse(x.Match.Groups[1].Value, CultureInfo.InvariantCulture), x.Path))
            .OrderByDescending(x => x.Item1);
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
