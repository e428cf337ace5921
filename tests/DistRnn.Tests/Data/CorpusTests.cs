using System.Text;
using DistRnn.Data;

namespace DistRnn.Tests.Data;

public class CorpusTests
{
    [Fact]
    public void Vocabulary_is_the_sorted_distinct_characters()
    {
        var c = TestUtil.CorpusOf("banana\n");
        Assert.Equal(["\n", "a", "b", "n"], c.Vocabulary.Symbols);
        Assert.Equal([2, 1, 3, 1, 3, 1, 0], c.Tokens);
    }

    [Fact]
    public void A_leading_bom_is_ignored()
    {
        var bytes = new byte[] { 0xEF, 0xBB, 0xBF }.Concat(Encoding.UTF8.GetBytes("abab")).ToArray();
        var c = Corpus.FromBytes("bom", bytes, null);
        Assert.Equal(["a", "b"], c.Vocabulary.Symbols);
        Assert.Equal(4, c.Tokens.Length);
    }

    [Fact]
    public void Characters_beyond_the_bmp_are_single_symbols()
    {
        var c = TestUtil.CorpusOf("a😀a😀b");
        Assert.Equal(3, c.Vocabulary.Size);
        Assert.Equal(5, c.Tokens.Length);
    }

    [Fact]
    public void Invalid_utf8_names_the_byte_offset()
    {
        var bytes = Encoding.UTF8.GetBytes("hello").Concat(new byte[] { 0xC3, 0x28 }).ToArray();
        var e = Assert.Throws<InputException>(() => Corpus.FromBytes("bad.txt", bytes, null));
        Assert.Contains("byte offset 5", e.Message);
        Assert.Contains("bad.txt", e.Message);
    }

    [Theory]
    [InlineData("", "empty")]
    [InlineData("aaaa", "one distinct character")]
    public void Degenerate_corpora_are_refused(string text, string why)
    {
        var e = Assert.Throws<InputException>(() => TestUtil.CorpusOf(text));
        Assert.Contains(why, e.Message);
    }

    [Fact]
    public void Embedded_corpus_is_tiny_shakespeare()
    {
        var c = Corpus.Load(null);
        Assert.Equal(65, c.Vocabulary.Size);
        Assert.Equal(1115394, c.Tokens.Length);
        Assert.Equal(1003854, c.SplitIndex(0.1));
    }

    [Fact]
    public void A_missing_file_is_an_input_error()
    {
        var e = Assert.Throws<InputException>(() => Corpus.Load("/nonexistent/file.txt"));
        Assert.Contains("/nonexistent/file.txt", e.Message);
    }

    [Fact]
    public void Encoding_outside_the_vocabulary_names_the_character()
    {
        var v = Vocabulary.FromText("abc");
        var e = Assert.Throws<InputException>(() => v.Encode("abz", "--prime"));
        Assert.Contains("\"z\"", e.Message);
    }
}
