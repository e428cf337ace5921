using System.Security.Cryptography;

namespace DistRnn.Security;

/// <summary>
/// The run's shared secret (<c>--secret-file</c>): the key of the registration HMAC. It never leaves this
/// process — only MACs over fresh nonces cross the wire (<see cref="ChallengeResponse"/>).
/// </summary>
public sealed class SharedSecret
{
    /// <summary>Larger files are refused: a secret is a short line, and a device such as /dev/zero must not be read forever.</summary>
    public const int MaxBytes = 64 * 1024;
    /// <summary>Shorter secrets work but earn a warning (brute force of a short secret from one observed MAC is cheap).</summary>
    public const int RecommendedMinBytes = 16;

    private readonly byte[] _key;

    private SharedSecret(byte[] key, string? warning)
    {
        _key = key;
        Warning = warning;
    }

    /// <summary>A warning for the user (short secret, file readable by others), or null.</summary>
    public string? Warning { get; }

    public int Length => _key.Length;

    /// <summary>A secret from bytes (tests, or a caller that already holds the key).</summary>
    public static SharedSecret FromBytes(ReadOnlySpan<byte> key)
    {
        if (key.IsEmpty) throw new ArgumentException("the secret is empty");
        return new SharedSecret(key.ToArray(), null);
    }

    /// <summary>
    /// Reads the secret file: its bytes, less trailing whitespace (so <c>echo secret &gt; file</c> and a
    /// hand-edited file with a final newline give the same key on every node). Missing, unreadable, empty or
    /// oversized files raise <see cref="InputException"/> naming <paramref name="option"/> and the path.
    /// </summary>
    public static SharedSecret Load(string path, string option = "--secret-file")
    {
        if (string.IsNullOrWhiteSpace(path)) throw new InputException($"{option}: no file given");
        Data.InputFile.CheckSyntax(path, option);
        if (Directory.Exists(path)) throw new InputException($"{option} {path}: is a folder, not a file");
        byte[] raw;
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 4096, FileOptions.SequentialScan);
            raw = ReadAtMost(stream, MaxBytes + 1);
        }
        catch (FileNotFoundException) { throw new InputException($"{option} {path}: file not found"); }
        catch (DirectoryNotFoundException) { throw new InputException($"{option} {path}: file not found"); }
        catch (UnauthorizedAccessException) { throw new InputException($"{option} {path}: cannot be read (permission denied)"); }
        catch (IOException e) { throw new InputException($"{option} {path}: cannot be read ({e.Message})"); }

        if (raw.Length > MaxBytes) throw new InputException($"{option} {path}: larger than {MaxBytes} bytes; a secret is one short line");
        int end = raw.Length;
        while (end > 0 && raw[end - 1] is (byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n') end--;
        if (end == 0) throw new InputException($"{option} {path}: is empty; put a random line in it, e.g. `openssl rand -hex 32 > {path}`");

        var key = raw.AsSpan(0, end).ToArray();
        CryptographicOperations.ZeroMemory(raw);
        return new SharedSecret(key, WarningFor(path, option, key.Length));
    }

    private static byte[] ReadAtMost(Stream stream, int limit)
    {
        var buffer = new byte[Math.Min(limit, 4096)];
        int total = 0;
        while (total < limit)
        {
            if (total == buffer.Length) Array.Resize(ref buffer, Math.Min(limit, buffer.Length * 2));
            int n = stream.Read(buffer, total, buffer.Length - total);
            if (n == 0) break;
            total += n;
        }
        return buffer.AsSpan(0, total).ToArray();
    }

    private static string? WarningFor(string path, string option, int length)
    {
        var notes = new List<string>();
        if (length < RecommendedMinBytes) notes.Add($"the secret has only {length} bytes (use at least {RecommendedMinBytes}, e.g. `openssl rand -hex 32`)");
        if (!OperatingSystem.IsWindows())
        {
            try
            {
                var mode = File.GetUnixFileMode(path);
                if ((mode & (UnixFileMode.GroupRead | UnixFileMode.OtherRead)) != 0)
                    notes.Add($"the file is readable by other users (chmod 600 {path})");
            }
            catch (IOException) { } // the mode is advice only
            catch (UnauthorizedAccessException) { }
        }
        return notes.Count == 0 ? null : $"warning: {option} {path}: {string.Join("; ", notes)}";
    }

    /// <summary>HMAC-SHA256 of <paramref name="message"/> under the secret.</summary>
    internal byte[] Mac(ReadOnlySpan<byte> message) => HMACSHA256.HashData(_key, message);
}
