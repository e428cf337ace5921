using System.CommandLine;

namespace DistRnn.Configuration;

/// <summary>
/// The placeholder each option's value gets in --help (`--hidden &lt;d&gt;`, `--corpus &lt;FILE&gt;`), kept in
/// one table so every command names the same thing the same way. An option that sets its own HelpName keeps it.
/// </summary>
internal static class HelpNames
{
    private static readonly Dictionary<string, string> Table = new()
    {
        ["--corpus"] = "FILE", ["--text"] = "FILE", ["--model"] = "MODEL.json", ["--config"] = "FILE",
        ["--checkpoint"] = "PATH", ["--resume"] = "PATH", ["--out"] = "DIR",
        ["--hidden"] = "d", ["--seq"] = "T", ["--batch"] = "B", ["--steps"] = "N", ["--shards"] = "S",
        ["--optimizer"] = "sgd|adagrad|adam|rmsprop", ["--lr"] = "X", ["--clip"] = "X",
        ["--rmsprop-decay"] = "A", ["--lr-schedule"] = "constant|step|cosine", ["--lr-decay"] = "F", ["--lr-decay-after"] = "PERIODS", ["--lr-decay-every"] = "K",
        ["--warmup-steps"] = "N",
        ["--activation"] = "tanh|sigmoid", ["--precision"] = "float32|float64",
        ["--seed"] = "S", ["--val-frac"] = "F", ["--workers"] = "N", ["--min-workers"] = "N", ["--threads"] = "N",
        ["--listen"] = "HOST:PORT", ["--join"] = "HOST:PORT", ["--host"] = "HOST", ["--port"] = "PORT",
        ["--wait-timeout"] = "SECONDS", ["--give-up-after"] = "SECONDS",
        ["--checkpoint-every"] = "K", ["--eval-every"] = "K", ["--log-every"] = "K", ["--keep-checkpoints"] = "N",
        ["--secret-file"] = "FILE", ["--tls-cert"] = "FILE.pfx", ["--tls-ca"] = "FILE",
        ["--prime"] = "TEXT", ["--prefix"] = "TEXT", ["--length"] = "N", ["--temperature"] = "T",
        ["--top"] = "K", ["--max-length"] = "N", ["--beam-width"] = "W",
        ["--text-file"] = "FILE", ["--param"] = "W|U|b",
    };

    public static void Apply(Command command)
    {
        foreach (var option in command.Options)
            if (option.HelpName is null && Table.TryGetValue(option.Name, out var name)) option.HelpName = name;
        foreach (var sub in command.Subcommands) Apply(sub);
    }
}
