namespace DistRnn.Data;

/// <summary>
/// A path the user typed (an option's value or a config key's): every way it can be wrong — empty, a NUL or
/// other control character, a folder where a file is meant, missing, unreadable — is one <see cref="InputException"/>
/// naming the option and the path, so no command meets the framework's ArgumentException or IOException.
/// </summary>
public static class InputFile
{
    /// <summary>The path as it may be shown on one short line (control characters escaped, a very long one cut).</summary>
    public static string Show(string path)
    {
        var shown = path.Any(char.IsControl) ? Vocabulary.Escape(path) : path;
        return shown.Length <= MaxShown ? shown : shown[..MaxShown] + "…";
    }

    private const int MaxShown = 200;

    /// <summary>Throws unless <paramref name="path"/> can name a file or folder at all.</summary>
    public static void CheckSyntax(string path, string option)
    {
        if (path.Length == 0) throw new InputException($"{option}: the path is empty");
        if (path.Any(char.IsControl)) throw new InputException($"{option} {Show(path)}: the path holds a control character");
    }

    /// <summary>A folder to write into: a valid path that is not an existing file.</summary>
    public static void CheckFolder(string path, string option)
    {
        CheckSyntax(path, option);
        if (File.Exists(path)) throw new InputException($"{option} {Show(path)}: is a file, not a folder");
    }

    /// <summary>The whole file; <paramref name="maxBytes"/> guards against a device or a file far too large to be meant.</summary>
    public static byte[] ReadAllBytes(string path, string option, long maxBytes = int.MaxValue)
    {
        CheckSyntax(path, option);
        if (Directory.Exists(path)) throw new InputException($"{option} {Show(path)}: is a folder, not a file");
        string shown = Show(path);
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
            if (stream.Length > maxBytes) throw new InputException($"{option} {shown}: larger than {maxBytes} bytes");
            var bytes = new byte[stream.Length];
            stream.ReadExactly(bytes);
            return bytes;
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException) { throw new InputException($"{option} {shown}: file not found"); }
        catch (UnauthorizedAccessException) { throw new InputException($"{option} {shown}: permission denied"); }
        catch (NotSupportedException) { throw new InputException($"{option} {shown}: not a regular file"); }
        catch (IOException e) { throw new InputException($"{option} {shown}: cannot read ({e.Message})"); }
    }
}
