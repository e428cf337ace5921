using System.Text;

namespace DistRnn.Tests.Cli;

/// <summary>Every kind of bad input: exit code 2, one line on stderr naming the problem, no stack trace, nothing written.</summary>
[Collection("Console")]
public class BadInputTests
{
    private static readonly string Dir = TestUtil.TempDir();

    private static string File(string name, byte[] content) => TestUtil.WriteFile(Dir, name, content);

    private static string Text(string name, string content) => File(name, Encoding.UTF8.GetBytes(content));

    public static TheoryData<string, string[]> Cases()
    {
        var good = Text("good.txt", TestUtil.SmallText(3));
        var model = Text("model.json", """{"vocab":["a","b"],"hidden":1,"activation":"tanh","U":[[0.1],[0.2]],"W":[[0.3]],"V":[[0.4,0.5]],"b":[0.0],"c":[0.0,0.1]}""");
        var text = Text("ab.txt", "abba");
        var corrupt = File("corrupt.bin", Encoding.ASCII.GetBytes("DRNNCKPT this is not really a checkpoint, just bytes that look like one at first glance"));
        return new TheoryData<string, string[]>
        {
            { "missing.txt", ["train", "--workers", "0", "--corpus", Path.Combine(Dir, "missing.txt")] },
            { "empty", ["train", "--workers", "0", "--corpus", File("empty.txt", [])] },
            { "one", ["train", "--workers", "0", "--corpus", Text("one.txt", "a")] },
            { "one distinct", ["train", "--workers", "0", "--corpus", Text("aaa.txt", "aaaaaaa")] },
            { "byte offset 3", ["train", "--workers", "0", "--corpus", File("bad.txt", [0x61, 0x62, 0x63, 0xFF, 0x61])] },
            { "--hidden", ["train", "--workers", "0", "--corpus", good, "--hidden", "0"] },
            { "--seq", ["train", "--workers", "0", "--corpus", good, "--seq", "-3"] },
            { "--batch", ["train", "--workers", "0", "--corpus", good, "--batch", "0"] },
            { "--steps", ["train", "--workers", "0", "--corpus", good, "--steps", "0"] },
            { "--lr", ["train", "--workers", "0", "--corpus", good, "--lr", "-0.1"] },
            { "--optimizer", ["train", "--workers", "0", "--corpus", good, "--optimizer", "lbfgs"] },
            { "--rmsprop-decay", ["train", "--workers", "0", "--corpus", good, "--optimizer", "rmsprop", "--rmsprop-decay", "1"] },
            { "--lr-schedule", ["train", "--workers", "0", "--corpus", good, "--lr-schedule", "linear"] },
            { "--lr-decay", ["train", "--workers", "0", "--corpus", good, "--lr-schedule", "step", "--lr-decay", "0"] },
            { "--lr-decay-after", ["train", "--workers", "0", "--corpus", good, "--lr-decay-after", "-1"] },
            { "--lr-decay-every", ["train", "--workers", "0", "--corpus", good, "--lr-decay-every", "-1"] },
            { "--warmup-steps", ["train", "--workers", "0", "--corpus", good, "--warmup-steps", "-5"] },
            { "not through Cluster Bootstrap", ["train", "--workers", "0", "--corpus", good, "--listen", "127.0.0.1:4999", "--standby", "127.0.0.1:4998", "--discovery", "config", "--contact-points", "127.0.0.1:8558", "--management", "127.0.0.1:8558"] },
            { "an address is given twice", ["train", "--workers", "0", "--corpus", good, "--listen", "127.0.0.1:4999", "--standby", "127.0.0.1:4998,127.0.0.1:4998"] },
            { "--standby nohost: expected HOST:PORT", ["train", "--workers", "0", "--corpus", good, "--listen", "127.0.0.1:4999", "--standby", "127.0.0.1:4998,nohost"] },
            { "a standby serves no metrics yet", ["train", "--workers", "0", "--corpus", good, "--listen", "127.0.0.1:4999", "--standby", "127.0.0.1:4998", "--metrics", "127.0.0.1:9400"] },
            { "--activation", ["train", "--workers", "0", "--corpus", good, "--activation", "relu"] },
            { "--precision", ["train", "--workers", "0", "--corpus", good, "--precision", "float16"] },
            { "--bogus", ["train", "--bogus"] },
            { "--hidden", ["train", "--hidden", "abc"] },
            { "nosuchcommand", ["nosuchcommand"] },
            { "missing", ["sample", "--checkpoint", Path.Combine(Dir, "missing")] },
            { "corrupt.bin", ["sample", "--checkpoint", corrupt] },
            { "corrupt.bin", ["eval", "--checkpoint", corrupt] },
            { "corrupt.bin", ["inspect", "--checkpoint", corrupt] },
            { "corrupt.bin", ["train", "--resume", corrupt] },
            { "no valid checkpoint", ["inspect", "--checkpoint", Dir] },
            { "invalid JSON", ["grad", "--model", Text("bad.json", "{\"vocab\": [\"a\""), "--text", text] },
            { "\"W\"", ["grad", "--model", Text("shape.json", """{"vocab":["a","b"],"hidden":1,"U":[[0.1],[0.2]],"W":[[0.3, 1]],"V":[[0.4,0.5]],"b":[0.0],"c":[0.0,0.1]}"""), "--text", text] },
            { "\"U\"", ["grad", "--model", Text("rows.json", """{"vocab":["a","b"],"hidden":1,"U":[[0.1]],"W":[[0.3]],"V":[[0.4,0.5]],"b":[0.0],"c":[0.0,0.1]}"""), "--text", text] },
            { "\"c\"", ["grad", "--model", Text("missing-c.json", """{"vocab":["a","b"],"hidden":1,"U":[[0.1],[0.2]],"W":[[0.3]],"V":[[0.4,0.5]],"b":[0.0]}"""), "--text", text] },
            { "\"hidden\"", ["grad", "--model", Text("hidden.json", """{"vocab":["a","b"],"hidden":-1,"U":[],"W":[],"V":[],"b":[],"c":[]}"""), "--text", text] },
            { "not in the model's vocabulary", ["grad", "--model", model, "--text", Text("abc.txt", "abc")] },
            { "missing.json", ["grad", "--model", Path.Combine(Dir, "missing.json"), "--text", text] },
        };
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Exit_code_2_with_one_clear_line(string mentions, string[] args)
    {
        var outDir = Path.Combine(TestUtil.TempDir(), "out");
        var full = args[0] == "train" && !args.Contains("--resume") ? [.. args, "--out", outDir] : args;
        var r = await CliRunner.Run(full);
        Assert.Equal(2, r.Code);
        var lines = r.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.Contains(mentions, lines[0]);
        Assert.DoesNotContain("   at ", r.Err);
        Assert.DoesNotContain("Exception", r.Err);
        Assert.False(Directory.Exists(outDir) && Directory.EnumerateFileSystemEntries(outDir).Any(), "bad input left files behind");
    }
}
