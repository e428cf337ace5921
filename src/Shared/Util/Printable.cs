using System.Text;

namespace DistRnn.Util;

/// <summary>
/// Text that came from another node (a worker's name, a reason, a fingerprint) made safe to print on one line:
/// control characters (line breaks, escape sequences, NUL) become visible escapes and the length is bounded, so a
/// peer can neither forge log lines nor flood the log with one huge name.
/// </summary>
public static class Printable
{
    /// <summary>Names (of nodes, runs) are cut after this many characters.</summary>
    public const int NameLength = 64;
    /// <summary>Whole lines are cut after this many characters.</summary>
    public const int LineLength = 400;

    /// <summary><paramref name="text"/> with control characters escaped (\n, \t, \u001b …), cut to <paramref name="max"/> characters and an ellipsis.</summary>
    public static string Of(string? text, int max = NameLength)
    {
        if (string.IsNullOrEmpty(text)) return "";
        var sb = new StringBuilder(Math.Min(text.Length, max) + 8);
        foreach (var r in text.EnumerateRunes())
        {
            if (sb.Length >= max) { sb.Append('…'); break; }
            if (Rune.IsControl(r) || r.Value is 0x2028 or 0x2029 || Rune.GetUnicodeCategory(r) == System.Globalization.UnicodeCategory.Format)
                sb.Append(r.Value switch { '\n' => "\\n", '\r' => "\\r", '\t' => "\\t", _ => $"\\u{r.Value:x4}" });
            else sb.Append(r.ToString());
        }
        return sb.ToString();
    }
}

/// <summary>
/// At most <c>burst</c> lines per <c>window</c>; the lines held back are counted and reported with the next one let
/// through, so a flood of refusals costs a few lines, not one per attempt.
/// </summary>
public sealed class LineRateLimit(int burst, TimeSpan window, Func<DateTime>? now = null)
{
    private readonly Func<DateTime> _now = now ?? (() => DateTime.UtcNow);
    private DateTime _windowStart = DateTime.MinValue;
    private int _shown, _held;

    /// <summary>The line to print (with how many were held back before it), or null to hold it back.</summary>
    public string? Pass(string line)
    {
        var t = _now();
        if (t - _windowStart >= window) { _windowStart = t; _shown = 0; }
        if (_shown >= burst) { _held++; return null; }
        _shown++;
        if (_held == 0) return line;
        var text = $"{line} ({_held} similar line{(_held == 1 ? "" : "s")} not shown)";
        _held = 0;
        return text;
    }
}
