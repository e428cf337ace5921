using System.Runtime.InteropServices;

namespace DistRnn.Coordinator.Checkpoints;

/// <summary>
/// Write to a temporary file beside the target, flush to disk, rename, then flush the folder: readers see the
/// old file or the whole new one, and once Write returns the new name survives a power cut (the rename lives
/// in the folder, which fsync of the file alone does not persist), so pruning older files after it is safe.
/// </summary>
public static partial class AtomicFile
{
    public static void Write(string path, ReadOnlySpan<byte> bytes)
    {
        var dir = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!;
        Directory.CreateDirectory(dir);
        var tmp = System.IO.Path.Combine(dir, $".{System.IO.Path.GetFileName(path)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var fs = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                fs.Write(bytes);
                fs.Flush(flushToDisk: true);
            }
            File.Move(tmp, path, overwrite: true);
        }
        catch
        {
            try { File.Delete(tmp); } catch { /* best effort: the original error matters more */ }
            throw;
        }
        SyncDirectory(dir);
    }

    public static void WriteText(string path, string text) => Write(path, System.Text.Encoding.UTF8.GetBytes(text));

    /// <summary>
    /// fsync of a folder, so the renames and new names in it are on disk. .NET opens no handle on a folder, hence
    /// libc. Best effort: false where the platform or the file system offers no such flush (Windows commits a
    /// rename with the file's metadata).
    /// </summary>
    public static bool SyncDirectory(string dir)
    {
        if (!(OperatingSystem.IsLinux() || OperatingSystem.IsMacOS() || OperatingSystem.IsFreeBSD())) return false;
        int fd = Posix.Open(dir, Posix.ReadOnly);
        if (fd < 0) return false;
        try { return Posix.Fsync(fd) == 0; }
        finally { _ = Posix.Close(fd); }
    }

    private static partial class Posix
    {
        /// <summary>O_RDONLY, 0 on every POSIX system (O_DIRECTORY's value differs by architecture and is only a check).</summary>
        public const int ReadOnly = 0;

        [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8)]
        public static partial int Open(string path, int flags);

        [LibraryImport("libc", EntryPoint = "fsync")]
        public static partial int Fsync(int fd);

        [LibraryImport("libc", EntryPoint = "close")]
        public static partial int Close(int fd);
    }
}
