using System.Runtime.InteropServices;

namespace DistRnn.Coordinator.Channel;

/// <summary>
/// How many more file descriptors this process may open: on Linux the soft RLIMIT_NOFILE (what open(2) and
/// accept(2) are held to) less those open (/proc/self/fd); elsewhere, or without a limit, unknown.
/// </summary>
internal static class Descriptors
{
    /// <returns>null where it cannot tell; 0 when not even the count's own directory could be opened</returns>
    public static long? Free()
    {
        if (!OperatingSystem.IsLinux() || GetRLimit(NoFile, out var limit) != 0 || limit.Current > int.MaxValue) return null; // RLIM_INFINITY: no limit
        try { return (long)limit.Current - Directory.EnumerateFileSystemEntries("/proc/self/fd").Count(); }
        catch (DirectoryNotFoundException) { return null; } // no /proc
        catch (IOException) { return 0; } // EMFILE opening the directory: none left
    }

    private const int NoFile = 7; // RLIMIT_NOFILE on x86-64 and arm64 Linux

    [StructLayout(LayoutKind.Sequential)]
    private struct RLimit
    {
        public nuint Current, Maximum; // rlim_t: unsigned long
    }

    [DllImport("libc", EntryPoint = "getrlimit", SetLastError = true)]
    private static extern int GetRLimit(int resource, out RLimit limit);
}
