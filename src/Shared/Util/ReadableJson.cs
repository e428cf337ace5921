using System.Buffers;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace DistRnn.Util;

/// <summary>
/// JSON as people read it, in any script: every printable character is written as itself (UTF-8), and only what
/// JSON requires or what would break a line or a terminal is escaped: <c>"</c>, <c>\</c>, the control characters
/// (<c>\n</c>, <c>\t</c>, <c>\u001b</c> …) and the line and paragraph separators U+2028/U+2029.
/// System.Text.Json's own encoders escape far more, even the "unsafe relaxed" one: every character beyond the
/// BMP (emoji, rarer CJK) becomes a surrogate pair of <c>\u</c> escapes, and its global block list escapes more.
/// Every JSON the programs print or write for people (stdout, metrics.jsonl) and every quoted string in a human
/// line (<see cref="Quote"/>) goes through this one rule.
/// </summary>
public static class ReadableJson
{
    public static readonly JavaScriptEncoder Encoder = new ReadableEncoder();

    /// <summary>Serializer options with <see cref="Encoder"/>; derive others from it (<c>new(ReadableJson.Options) { … }</c>).</summary>
    public static readonly JsonSerializerOptions Options = new() { Encoder = Encoder };

    public static readonly JsonSerializerOptions Indented = new(Options) { WriteIndented = true };

    public static readonly JsonWriterOptions Writer = new() { Encoder = Encoder };

    /// <summary>
    /// <paramref name="s"/> as a JSON string literal on one line, readable: <c>"春眠\n"</c>. A lone surrogate (half
    /// of a character, which no valid text holds) is written as U+FFFD.
    /// </summary>
    public static string Quote(string s) => JsonSerializer.Serialize(s, Options);

    /// <summary>True for the characters escaped in any human-facing text: control characters and the line/paragraph separators.</summary>
    public static bool MustEscape(Rune r) => Rune.IsControl(r) || r.Value is 0x2028 or 0x2029;

    /// <summary>
    /// A multi-line text (a generated sample) for the terminal: its line breaks and tabs (<c>\n</c>, <c>\r</c>,
    /// <c>\t</c>) stay the text's layout; every other character <see cref="MustEscape"/> holds (an escape sequence,
    /// a NUL) is written as its JSON escape, so the text cannot drive the terminal.
    /// </summary>
    public static string Layout(string text)
    {
        if (!text.EnumerateRunes().Any(r => MustEscape(r) && r.Value is not ('\n' or '\r' or '\t'))) return text;
        var sb = new StringBuilder(text.Length + 16);
        foreach (var r in text.EnumerateRunes())
            if (MustEscape(r) && r.Value is not ('\n' or '\r' or '\t')) sb.Append(Quote(r.ToString())[1..^1]);
            else sb.Append(r.ToString());
        return sb.ToString();
    }

    /// <summary>
    /// The encoder: escapes exactly what <see cref="MustEscape"/> holds plus <c>"</c> and <c>\</c>, and flags
    /// ill-formed UTF-16/UTF-8 so the writer replaces it (it never copies half a character).
    /// </summary>
    private sealed class ReadableEncoder : JavaScriptEncoder
    {
        // "\uXXXX": every character the rule escapes is in the BMP.
        public override int MaxOutputCharactersPerInputCharacter => 6;

        public override bool WillEncode(int unicodeScalar) =>
            unicodeScalar is '"' or '\\' || !Rune.IsValid(unicodeScalar) || MustEscape(new Rune(unicodeScalar));

        public override unsafe int FindFirstCharacterToEncode(char* text, int textLength)
        {
            var span = new ReadOnlySpan<char>(text, textLength);
            int i = 0;
            while (i < span.Length)
            {
                if (Rune.DecodeFromUtf16(span[i..], out var r, out int used) != OperationStatus.Done || WillEncode(r.Value)) return i;
                i += used;
            }
            return -1;
        }

        public override int FindFirstCharacterToEncodeUtf8(ReadOnlySpan<byte> utf8Text)
        {
            int i = 0;
            while (i < utf8Text.Length)
            {
                if (Rune.DecodeFromUtf8(utf8Text[i..], out var r, out int used) != OperationStatus.Done || WillEncode(r.Value)) return i;
                i += used;
            }
            return -1;
        }

        public override unsafe bool TryEncodeUnicodeScalar(int unicodeScalar, char* buffer, int bufferLength, out int numberOfCharactersWritten)
        {
            var dest = new Span<char>(buffer, bufferLength);
            numberOfCharactersWritten = 0;
            if (!WillEncode(unicodeScalar))
            {
                if (!new Rune(unicodeScalar).TryEncodeToUtf16(dest, out int n)) return false;
                numberOfCharactersWritten = n;
                return true;
            }
            string escape = unicodeScalar switch
            {
                '"' => "\\\"", '\\' => "\\\\", '\n' => "\\n", '\r' => "\\r", '\t' => "\\t", '\b' => "\\b", '\f' => "\\f",
                _ => $"\\u{unicodeScalar:x4}",
            };
            if (escape.Length > dest.Length) return false;
            escape.CopyTo(dest);
            numberOfCharactersWritten = escape.Length;
            return true;
        }
    }
}
