using System.Text;
using DistRnn.Security;
using DistRnn.Tests.Security;

namespace DistRnn.Tests.Cli;

/// <summary>
/// Every input of every command the way a fuzzer would feed it (files, options, environment variables, config
/// keys): exit code 2, exactly one line on stderr naming the input, no stack trace, nothing written.
/// Arguments may hold "{CK}" (a real checkpoint of a tiny run) and "env:NAME=VALUE" (set for that case only);
/// "distrnn-worker" as the first argument runs the worker's command line instead of distrnn's.
/// </summary>
[Collection("Console")]
public class BadInputFuzzTests
{
    private const string Worker = "distrnn-worker", Ck = "{CK}";
    private static readonly string Dir = TestUtil.TempDir();

    private static string File(string name, byte[] content) => TestUtil.WriteFile(Dir, name, content);

    private static string Text(string name, string content) => File(name, Encoding.UTF8.GetBytes(content));

    private static string Folder(string name) => Directory.CreateDirectory(Path.Combine(Dir, name)).FullName;

    /// <summary>A MODEL.json of vocabulary "ab" with hidden d whose arrays are as given (default: one row of zeros each).</summary>
    private static string Model(string name, string hidden, string? u = null, string? w = null, string extra = "") =>
        Text(name, $$"""{"vocab":["a","b"],"hidden":{{hidden}},"activation":"tanh","U":{{u ?? "[[0],[0]]"}},"W":{{w ?? "[[0]]"}},"V":[[0,0]],"b":[0],"c":[0,0]{{extra}}}""");

    private static readonly Lazy<Task<string>> Checkpoint = new(async () =>
    {
        var outDir = Path.Combine(Dir, "trained");
        var r = await CliRunner.Run("train", "--workers", "0", "--corpus", Text("train.txt", TestUtil.SmallText(3)), "--hidden", "4", "--seq", "8",
            "--batch", "2", "--steps", "2", "--out", outDir, "--json");
        Assert.True(r.Code == 0, r.ToString());
        return outDir;
    });

    public static TheoryData<string, string, string[]> Cases()
    {
        var good = Text("good.txt", TestUtil.SmallText(3));
        var ab = Text("ab.txt", "abba");
        var model = Model("model.json", "1");
        var folder = Folder("a-folder");
        var secretEmpty = Text("empty-secret", "\n");
        var certs = new TestCertificates(Folder("certs"));
        var node = certs.Node("node");
        string longPath = Path.Combine(Dir, new string('x', 5000));
        // train with a tiny model, so that input wrongly taken as good ends soon (each default only where a case sets no value).
        string[] T(params string[] a) =>
            ["train", "--workers", "0", "--corpus", good, .. a,
             .. new[] { ("--hidden", "4"), ("--seq", "8"), ("--batch", "2"), ("--steps", "3") }.Where(o => !a.Contains(o.Item1)).SelectMany(o => new[] { o.Item1, o.Item2 })];
        string[] W(params string[] a) => [Worker, "--join", "127.0.0.1:1", .. a];
        string Config(string name, string json) => Text(name, json);

        return new TheoryData<string, string, string[]>
        {
            // --config, in both executables
            { "config empty path", "--config", ["train", "--config", ""] },
            { "config folder", "--config", ["train", "--config", folder] },
            { "config NUL in path", "--config", ["train", "--config", "a\0b"] },
            { "config not an object", "--config", ["train", "--config", Config("array.json", "[1, 2]")] },
            { "config NUL in a string value", "\"corpus\"", ["train", "--config", Config("nul.json", "{\"corpus\": \"a\\u0000b\"}")] },
            { "config wrong type", "\"hidden\"", ["train", "--config", Config("type.json", "{\"hidden\": \"many\"}")] },
            { "config nested object", "\"hidden\"", ["train", "--config", Config("object.json", "{\"hidden\": {\"d\": 8}}")] },
            { "config huge number", "\"hidden\"", ["train", "--config", Config("huge.json", "{\"hidden\": 1e400}")] },
            { "config negative", "\"steps\"", ["train", "--config", Config("negative.json", "{\"steps\": -5}")] },
            { "config NaN", "\"lr\"", ["train", "--config", Config("nan.json", "{\"lr\": \"NaN\"}")] },
            { "config duplicate key", "\"seq\"", ["train", "--config", Config("twice.json", "{\"seq\": 8, \"seq\": 9}")] },
            { "config unknown key", "\"hiden\"", ["train", "--config", Config("unknown.json", "{\"hiden\": 8}")] },
            { "config invalid JSON", "--config", ["train", "--config", Text("broken.json", "{\"hidden\": ")] },
            { "worker config empty path", "--config", W("--config", "") },
            { "worker config NUL in a string value", "\"corpus\"", W("--config", Config("wnul.json", "{\"corpus\": \"a\\u0000b\"}")) },

            // train: the corpus file
            { "corpus empty path", "--corpus", ["train", "--workers", "0", "--corpus", ""] },
            { "corpus NUL in path", "--corpus", ["train", "--workers", "0", "--corpus", "a\0b"] },
            { "corpus very long path", "--corpus", ["train", "--workers", "0", "--corpus", longPath] },
            { "corpus is a folder", "--corpus", ["train", "--workers", "0", "--corpus", folder] },
            { "corpus invalid UTF-8 (lone continuation byte)", "invalid UTF-8", ["train", "--workers", "0", "--corpus", File("cont.txt", [0x61, 0x80, 0x62])] },
            { "corpus only a BOM", "empty", ["train", "--workers", "0", "--corpus", File("bom.txt", [0xEF, 0xBB, 0xBF])] },
            { "corpus shorter than --seq", "--seq", T("--seq", "5000") },

            // train: sizes and numbers
            { "hidden 46341", "--hidden", T("--hidden", "46341") },
            { "seq huge", "--seq", T("--seq", "2000000000") },
            { "batch huge", "--batch", T("--batch", "2000000000") },
            { "shards not a power of two", "--shards", T("--shards", "3") },
            { "shards more than batch", "--shards", T("--batch", "2", "--shards", "4") },
            { "lr NaN", "--lr", T("--lr", "NaN") },
            { "lr Infinity", "--lr", T("--lr", "Infinity") },
            { "clip NaN", "--clip", T("--clip", "NaN") },
            { "val-frac 1", "--val-frac", T("--val-frac", "1") },
            { "steps overflow", "--steps", T("--steps", "99999999999999999999") },
            { "steps huge", "--steps", T("--steps", "9223372036854775807") },
            { "keep-checkpoints negative", "--keep-checkpoints", T("--keep-checkpoints", "-1") },
            { "threads negative", "--threads", T("--threads", "-2") },
            { "eval-every negative", "--eval-every", T("--eval-every", "-1") },
            { "duplicate option", "--hidden", T("--hidden", "8", "--hidden", "16") },
            { "option without its value", "--hidden", ["train", "--workers", "0", "--corpus", good, "--steps", "3", "--hidden"] },

            // train: network, security and environment
            { "listen beyond loopback, no secret or TLS", "--insecure", T("--listen", "192.0.2.1:4053") },
            { "coordinator certificate made for a worker", "worker role",
                ["env:" + TlsCredentials.PasswordVariable + "=" + TestCertificates.Password, .. T("--listen", "127.0.0.1:4053", "--tls-cert", certs.Node("worker-9"), "--tls-ca", certs.CaPath)] },
            { "listen malformed", "--listen", T("--listen", "no-port-here") },
            { "listen port 0", "--listen", T("--listen", "127.0.0.1:0") },
            { "listen port 70000", "--listen", T("--listen", "127.0.0.1:70000") },
            { "listen empty host", "--listen", T("--listen", ":4053") },
            { "secret-file missing", "--secret-file", T("--secret-file", Path.Combine(Dir, "no-secret")) },
            { "secret-file empty", "--secret-file", T("--secret-file", secretEmpty) },
            { "secret-file folder", "--secret-file", T("--secret-file", folder) },
            { "secret-file empty path", "--secret-file", T("--secret-file", "") },
            { "secret-file NUL in path", "--secret-file", T("--secret-file", "a\0b") },
            { "tls-cert without tls-ca", "--tls-cert", T("--tls-cert", node) },
            { "tls-ca not a certificate", "--tls-ca", T("--tls-cert", node, "--tls-ca", good) },
            { "tls-cert empty path", "--tls-cert", T("--tls-cert", "", "--tls-ca", certs.CaPath) },
            { "tls-cert folder", "--tls-cert", T("--tls-cert", folder, "--tls-ca", certs.CaPath) },
            { "wrong DISTRNN_TLS_PASSWORD", "DISTRNN_TLS_PASSWORD", ["env:DISTRNN_TLS_PASSWORD=wrong", .. T("--tls-cert", node, "--tls-ca", certs.CaPath)] },
            { "DISTRNN_DATA_CHANNEL odd value", "DISTRNN_DATA_CHANNEL", ["env:DISTRNN_DATA_CHANNEL=of", .. T()] },
            { "out is a file", "--out", T("--out", good) },
            { "out empty path", "--out", T("--out", "") },
            { "out NUL in path", "--out", T("--out", "a\0b") },
            { "resume empty path", "--resume", ["train", "--resume", ""] },
            { "resume a text file", good, ["train", "--resume", good] },

            // grad: MODEL.json and the text
            { "grad hidden 46341", "\"hidden\"", ["grad", "--model", Model("h46341.json", "46341"), "--text", ab] },
            { "grad hidden 30000", "\"hidden\"", ["grad", "--model", Model("h30000.json", "30000"), "--text", ab] },
            { "grad hidden 0", "\"hidden\"", ["grad", "--model", Model("h0.json", "0"), "--text", ab] },
            { "grad hidden fractional", "\"hidden\"", ["grad", "--model", Model("hfrac.json", "1.5"), "--text", ab] },
            { "grad non-finite number", "\"U[0]\"", ["grad", "--model", Model("inf.json", "1", u: "[[1e400],[0]]"), "--text", ab] },
            { "grad deep nesting", "--model", ["grad", "--model", Model("deep.json", "1", w: new string('[', 5000) + new string(']', 5000)), "--text", ab] },
            { "grad duplicate key", "\"hidden\"", ["grad", "--model", Model("dup.json", "1", extra: ",\"hidden\":1"), "--text", ab] },
            { "grad model empty path", "--model", ["grad", "--model", "", "--text", ab] },
            { "grad model NUL in path", "--model", ["grad", "--model", "a\0b", "--text", ab] },
            { "grad model is a folder", "--model", ["grad", "--model", folder, "--text", ab] },
            { "grad model not UTF-8", "--model", ["grad", "--model", File("latin1.json", [0x7B, 0xE9, 0x7D]), "--text", ab] },
            { "grad text empty path", "--text", ["grad", "--model", model, "--text", ""] },
            { "grad text is a folder", "--text", ["grad", "--model", model, "--text", folder] },
            { "grad text invalid UTF-8", "--text", ["grad", "--model", model, "--text", File("badab.txt", [0x61, 0xC3, 0x62])] },

            // sample, complete, eval, inspect on a real checkpoint
            { "sample temperature 0", "--temperature", ["sample", "--checkpoint", Ck, "--temperature", "0"] },
            { "sample temperature negative", "--temperature", ["sample", "--checkpoint", Ck, "--temperature", "-1"] },
            { "sample temperature NaN", "--temperature", ["sample", "--checkpoint", Ck, "--temperature", "NaN"] },
            { "sample length negative", "--length", ["sample", "--checkpoint", Ck, "--length", "-1"] },
            { "sample length huge", "--length", ["sample", "--checkpoint", Ck, "--length", "2000000000"] },
            { "sample prime outside the vocabulary", "--prime", ["sample", "--checkpoint", Ck, "--prime", "Ω"] },
            { "sample prime empty", "--prime", ["sample", "--checkpoint", Ck, "--prime", ""] },
            { "sample checkpoint empty path", "--checkpoint", ["sample", "--checkpoint", ""] },
            { "sample checkpoint NUL in path", "--checkpoint", ["sample", "--checkpoint", "a\0b"] },
            { "complete top 0", "--top", ["complete", "--checkpoint", Ck, "--prefix", "th", "--top", "0"] },
            { "complete top huge", "--top", ["complete", "--checkpoint", Ck, "--prefix", "th", "--top", "2000000000"] },
            { "complete max-length huge", "--max-length", ["complete", "--checkpoint", Ck, "--prefix", "th", "--max-length", "2000000000"] },
            { "complete beam-width huge", "--beam-width", ["complete", "--checkpoint", Ck, "--prefix", "th", "--beam-width", "2000000000"] },
            { "complete prefix outside the vocabulary", "--prefix", ["complete", "--checkpoint", Ck, "--prefix", "Ω"] },
            { "eval corpus NUL in path", "--corpus", ["eval", "--checkpoint", Ck, "--corpus", "a\0b"] },
            { "eval corpus is a folder", "--corpus", ["eval", "--checkpoint", Ck, "--corpus", folder] },
            { "eval corpus outside the vocabulary", "--corpus", ["eval", "--checkpoint", Ck, "--corpus", Text("greek.txt", "αβγ")] },
            { "eval checkpoint a text file", good, ["eval", "--checkpoint", good] },
            { "inspect checkpoint empty file", "empty.bin", ["inspect", "--checkpoint", File("empty.bin", [])] },

            // bench
            { "bench hidden 0", "--hidden", ["bench", "--hidden", "0"] },
            { "bench hidden huge", "--hidden", ["bench", "--hidden", "100000"] },
            { "bench seq 0", "--seq", ["bench", "--seq", "0"] },
            { "bench shards 3", "--shards", ["bench", "--shards", "3"] },
            { "bench warmup huge", "--warmup", ["bench", "--warmup", "2147483647"] },
            { "bench precision", "--precision", ["bench", "--precision", "float8"] },

            // explain
            { "explain both sources", "explain", ["explain", "--checkpoint", Ck, "--model", model, "--text", "ab"] },
            { "explain param", "--param", ["explain", "--model", model, "--text", "ab", "--param", "V"] },
            { "explain model hidden 46341", "\"hidden\"", ["explain", "--model", Model("eh.json", "46341"), "--text", "ab"] },
            { "explain text-file folder", "--text-file", ["explain", "--model", model, "--text-file", folder] },
            { "explain text-file NUL in path", "--text-file", ["explain", "--model", model, "--text-file", "a\0b"] },
            { "explain out is a file", "--out", ["explain", "--model", model, "--text", "ab", "--out", good] },
            { "explain out NUL in path", "--out", ["explain", "--model", model, "--text", "ab", "--out", "a\0b"] },

            // distrnn-worker
            { "worker join missing", "--join", [Worker] },
            { "worker join malformed", "--join", [Worker, "--join", "localhost"] },
            { "worker join port 0", "--join", [Worker, "--join", "127.0.0.1:0"] },
            { "worker join port 70000", "--join", [Worker, "--join", "127.0.0.1:70000"] },
            { "worker port 70000", "--port", W("--port", "70000") },
            { "worker threads negative", "--threads", W("--threads", "-1") },
            { "worker give-up-after negative", "--give-up-after", W("--give-up-after", "-1") },
            { "worker host empty", "--host", W("--host", "") },
            { "worker corpus NUL in path", "--corpus", W("--corpus", "a\0b") },
            { "worker corpus empty", "--corpus", W("--corpus", File("wempty.txt", [])) },
            { "worker secret-file folder", "--secret-file", W("--secret-file", folder) },
            { "worker tls-ca without tls-cert", "--tls-ca", W("--tls-ca", certs.CaPath) },
            { "worker unknown option", "--bogus", W("--bogus") },
            { "worker host beyond loopback, no secret or TLS", "--insecure", W("--host", "192.0.2.1") },

            // unknown commands and options
            { "unknown option", "--hiden", ["train", "--hiden", "8"] },
            { "unknown option of sample", "--temp", ["sample", "--checkpoint", Ck, "--temp", "1"] },
        };
    }

    private const int GuardSeconds = 60;

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Exit_code_2_with_one_line_naming_the_input(string kind, string mentions, string[] args)
    {
        var env = args.TakeWhile(a => a.StartsWith("env:", StringComparison.Ordinal)).Select(a => a[4..].Split('=', 2)).ToList();
        args = args.Skip(env.Count).ToArray();
        if (args.Contains(Ck)) { var ck = await Checkpoint.Value; args = args.Select(a => a == Ck ? ck : a).ToArray(); }
        var outDir = Path.Combine(TestUtil.TempDir(), "out");
        if (args[0] is "train" or "explain" && !args.Contains("--out") && !args.Contains("--resume")) args = [args[0], "--out", outDir, .. args[1..]];
        // A worker that got through validation would wait for a coordinator that is not there: give up at once.
        if (args[0] == Worker && !args.Contains("--give-up-after")) args = [.. args, "--give-up-after", "1"];

        var before = Snapshot();
        foreach (var kv in env) Environment.SetEnvironmentVariable(kv[0], kv[1]);
        CliRunner.Result r;
        try
        {
            // A guard, not a timing: input taken as good would go on training or generating for a long time.
            var run = args[0] == Worker ? CliRunner.RunWorker(args[1..]) : CliRunner.Run(args);
            Assert.True(await Task.WhenAny(run, Task.Delay(TimeSpan.FromSeconds(GuardSeconds))) == run, $"{kind}: still running after {GuardSeconds} s (taken as good input?)");
            r = await run;
        }
        finally { foreach (var kv in env) Environment.SetEnvironmentVariable(kv[0], null); }

        Assert.True(r.Code == 2, $"{kind}: {r}");
        var lines = r.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1, $"{kind}: expected one line on stderr\n{r}");
        Assert.Contains(mentions, lines[0]);
        Assert.DoesNotContain("   at ", r.Err);
        Assert.DoesNotContain("Unhandled exception", r.Err);
        Assert.False(Directory.Exists(outDir) && Directory.EnumerateFileSystemEntries(outDir).Any(), $"{kind}: bad input left files behind in --out");
        Assert.Equal(before, Snapshot());
    }

    /// <summary>Every file under the test folder and runs/ (where commands write without --out): bad input adds or changes none.</summary>
    private static string[] Snapshot() =>
        new[] { Dir, Path.GetFullPath("runs") }.Where(Directory.Exists)
            .SelectMany(d => Directory.EnumerateFileSystemEntries(d, "*", SearchOption.AllDirectories))
            .Select(p => $"{p} {(System.IO.File.Exists(p) ? new FileInfo(p).Length : -1)}").Order().ToArray();
}
