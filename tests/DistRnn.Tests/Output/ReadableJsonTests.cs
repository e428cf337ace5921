using System.Text;
using System.Text.Json;
using DistRnn.Data;
using DistRnn.Util;
using Xunit;

namespace DistRnn.Tests.Output;

/// <summary>The one escaping rule of human-facing text and JSON: printable characters of every script as themselves, control characters escaped.</summary>
public class ReadableJsonTests
{
    [Theory]
    [InlineData("春眠不覺曉", "\"春眠不覺曉\"")]
    [InlineData("Мороз и солнце", "\"Мороз и солнце\"")]
    [InlineData("a😀b𝄞", "\"a😀b𝄞\"")]                               // beyond the BMP: one character each, never \ud83d\ude00
    [InlineData("é <&'+> `", "\"é <&'+> `\"")]                        // what the HTML-minded default encoder escapes
    [InlineData("line\nnext\ttab\r", "\"line\\nnext\\ttab\\r\"")]
    [InlineData("nul\0 esc\u001b del\u007f nel\u0085", "\"nul\\u0000 esc\\u001b del\\u007f nel\\u0085\"")]
    [InlineData("ls\u2028ps\u2029", "\"ls\\u2028ps\\u2029\"")]
    [InlineData("q\"b\\", "\"q\\\"b\\\\\"")]
    public void Quote_writes_printable_characters_as_themselves_and_escapes_control_characters(string text, string quoted)
    {
        Assert.Equal(quoted, ReadableJson.Quote(text));
        Assert.Equal(quoted, Vocabulary.Escape(text));
        Assert.Equal(text, JsonSerializer.Deserialize<string>(quoted)); // still JSON, read back exactly
    }

    [Fact]
    public void Serializer_and_writer_agree_and_stay_valid_json()
    {
        var value = new Dictionary<string, object> { ["text"] = "春\n😀\u001b\"", ["vocab"] = new[] { "\n", "д", "😀" } };
        string viaSerializer = JsonSerializer.Serialize(value, ReadableJson.Options);
        var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, ReadableJson.Writer))
        {
            w.WriteStartObject();
            w.WriteString("text", "春\n😀\u001b\"");
            w.WriteStartArray("vocab");
            foreach (var s in new[] { "\n", "д", "😀" }) w.WriteStringValue(s);
            w.WriteEndArray();
            w.WriteEndObject();
        }
        string viaWriter = Encoding.UTF8.GetString(buffer.ToArray());
        Assert.Equal("{\"text\":\"春\\n😀\\u001b\\\"\",\"vocab\":[\"\\n\",\"д\",\"😀\"]}", viaSerializer);
        Assert.Equal(viaSerializer, viaWriter);
        using var doc = JsonDocument.Parse(viaWriter);
        Assert.Equal("😀", doc.RootElement.GetProperty("vocab")[2].GetString());
    }

    [Fact]
    public void Half_a_character_is_never_written()
    {
        // A lone surrogate is no character: written as U+FFFD, the output is still valid UTF-8 and JSON.
        string quoted = ReadableJson.Quote("a\ud83db");
        Assert.Equal("a\ufffdb", JsonSerializer.Deserialize<string>(quoted));
        Assert.DoesNotContain('\ud83d', quoted);
    }

    [Fact]
    public void Layout_keeps_line_breaks_and_tabs_and_escapes_other_control_characters()
    {
        Assert.Equal("春眠\n不覺\t曉😀\r\n", ReadableJson.Layout("春眠\n不覺\t曉😀\r\n"));
        Assert.Equal("red \\u001b[31m bell \\u0007 nul \\u0000\n", ReadableJson.Layout("red \u001b[31m bell \u0007 nul \0\n"));
    }
}
