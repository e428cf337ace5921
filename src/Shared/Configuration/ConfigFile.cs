using System.CommandLine;
using System.CommandLine.Parsing;
using System.Text.Json;
using DistRnn.Data;

namespace DistRnn.Configuration;

/// <summary>
/// `--config FILE`: a JSON object (or HOCON, for FILE.conf / FILE.hocon) whose keys are the command's option names without the dashes
/// (<c>{"hidden": 256, "val-frac": 0.05, "corpus": "data/input.txt"}</c>: the kebab-case of
/// TrainConfig.Json, so a checkpoint's saved "config" works as a file). The file's values become
/// command-line tokens for every option not typed on the command line, so the command line overrides
/// the file and both are checked by the same parser and the same validation. Relative paths in the file
/// are relative to the file's folder. Unknown keys, bad JSON and bad values are bad input (exit 2) naming
/// the file and the key.
/// </summary>
public static class ConfigFile
{
    public static readonly Option<string?> Option = new("--config")
    {
        Description = "JSON file of option values (keys = option names without dashes); options on the command line override it",
        HelpName = "FILE",
    };

    /// <summary>Options whose values are paths: relative ones in the file are taken from the file's folder.</summary>
    private static readonly HashSet<string> PathOptions = ["--corpus", "--out", "--resume", "--checkpoint", "--secret-file", "--tls-cert", "--tls-ca"];

    /// <summary>What a --config file added: the arguments to parse, and which option came from which key.</summary>
    public sealed class Expansion(string path, string[] args, Dictionary<string, string> keyOfOption)
    {
        public string Path { get; } = path;
        public string[] Args { get; } = args;

        /// <summary>An error about an option that came from the file, re-worded to name the file and key; other errors unchanged.</summary>
        public string Attribute(string message)
        {
            foreach (var (option, key) in keyOfOption)
                if (message.StartsWith(option + " ", StringComparison.Ordinal) || message.StartsWith(option + ":", StringComparison.Ordinal)
                    || message.Contains($"'{option}'", StringComparison.Ordinal))
                    return $"--config {Path}: key \"{key}\": {message}";
            return message;
        }

        public string Attribute(ParseError error)
        {
            var option = error.SymbolResult switch
            {
                OptionResult o => o.Option,
                ArgumentResult { Parent: OptionResult o } => o.Option,
                _ => null,
            };
            return option is not null && keyOfOption.TryGetValue(option.Name, out var key)
                ? $"--config {Path}: key \"{key}\": {error.Message}"
                : Attribute(error.Message);
        }
    }

    /// <summary>
    /// Null when the invoked command has no --config or it was not given (the arguments are parsed as they are).
    /// Throws <see cref="InputException"/> for a missing or malformed file or an unknown key.
    /// </summary>
    public static Expansion? Expand(RootCommand root, string[] args)
    {
        var first = root.Parse(args);
        var command = first.CommandResult.Command;
        if (!command.Options.Contains(Option) || first.GetResult(Option) is not { Implicit: false } given || given.Errors.Any()) return null;
        string path = first.GetValue(Option)!;

        JsonDocument doc;
        // A configuration is a few lines; a larger file is a mistake (or a device), not a configuration.
        var bytes = InputFile.ReadAllBytes(path, "--config", maxBytes: 1 << 20);
        try
        {
            doc = IsHocon(path)
                ? HoconToJson(path, bytes)
                : JsonDocument.Parse(bytes, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        }
        catch (JsonException e) { throw new InputException($"--config {path}: not valid JSON (line {e.LineNumber + 1}: {FirstSentence(e.Message)})"); }

        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                throw new InputException($"--config {path}: must be a JSON object of option values, like {{\"hidden\": 256}}");
            string dir = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!;
            var extra = new List<string>();
            var keyOfOption = new Dictionary<string, string>();
            var seen = new HashSet<string>();
            foreach (var prop in doc.RootElement.EnumerateObject())
            {
                string key = prop.Name;
                if (!seen.Add(key)) throw new InputException($"--config {path}: key \"{key}\" appears twice");
                var option = Find(command, key);
                if (option is null || option == Option || option is System.CommandLine.Help.HelpOption)
                    throw new InputException($"--config {path}: unknown key \"{key}\"{Hint(command, key)} ({command.Name} has no option --{key})");
                if (first.GetResult(option) is { Implicit: false }) continue; // the command line wins
                var values = Values(path, key, prop.Value, option);
                if (values is null) continue;
                if (values.FirstOrDefault(v => v.Any(char.IsControl)) is string bad)
                    throw new InputException($"--config {path}: key \"{key}\": {Vocabulary.Escape(bad)} holds a control character");
                if (PathOptions.Contains(option.Name))
                    values = values.Select(v => System.IO.Path.IsPathRooted(v) || v.Length == 0 ? v : System.IO.Path.GetFullPath(System.IO.Path.Combine(dir, v))).ToList();
                extra.Add(option.Name);
                extra.AddRange(values);
                keyOfOption[option.Name] = key;
            }
            return new Expansion(path, [.. args, .. extra], keyOfOption);
        }
    }

    /// <summary>FILE.conf or FILE.hocon is HOCON (Akka's configuration syntax: <c>hidden = 256</c>); anything else is JSON.</summary>
    private static bool IsHocon(string path) =>
        path.EndsWith(".conf", StringComparison.OrdinalIgnoreCase) || path.EndsWith(".hocon", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// HOCON through Akka's parser, turned into the JSON object the rest of this class reads. HOCON values are
    /// text (256, true and tanh alike); the option parser gives them their types, as it does on the command line.
    /// </summary>
    private static JsonDocument HoconToJson(string path, byte[] bytes)
    {
        Akka.Configuration.Hocon.HoconObject root;
        try
        {
            var text = System.Text.Encoding.UTF8.GetString(bytes).TrimStart('\uFEFF');
            root = Akka.Configuration.ConfigurationFactory.ParseString(text).Root.GetObject();
        }
        catch (Exception e) when (e is not InputException)
        {
            throw new InputException($"--config {path}: not valid HOCON ({FirstSentence(e.Message.Replace('\r', ' ').Replace('\n', ' '))})");
        }
        var json = new System.Text.Json.Nodes.JsonObject();
        foreach (var (key, value) in root.Items)
        {
            json[key] = value.IsObject() ? new System.Text.Json.Nodes.JsonObject()
                : value.IsArray() ? new System.Text.Json.Nodes.JsonArray(value.GetArray().Select(v => (System.Text.Json.Nodes.JsonNode?)v.GetString()).ToArray())
                : value.GetString() is string text ? text
                : null;
        }
        return JsonDocument.Parse(json.ToJsonString());
    }

    private static Option? Find(Command command, string key) =>
        command.Options.FirstOrDefault(o => o.Name == "--" + key || o.Aliases.Contains("--" + key));

    /// <summary>Tokens of one value; null = leave the option at its default (JSON null).</summary>
    private static List<string>? Values(string path, string key, JsonElement value, Option option)
    {
        switch (value.ValueKind)
        {
            case JsonValueKind.Null: return null;
            case JsonValueKind.String: return [value.GetString()!];
            case JsonValueKind.Number: return [value.GetRawText()];
            case JsonValueKind.True: return ["true"];
            case JsonValueKind.False: return ["false"];
            case JsonValueKind.Array when option.Arity.MaximumNumberOfValues > 1:
                return value.EnumerateArray().Select(v => v.ValueKind switch
                {
                    JsonValueKind.String => v.GetString()!,
                    JsonValueKind.Number => v.GetRawText(),
                    _ => throw new InputException($"--config {path}: key \"{key}\": list items must be strings or numbers"),
                }).ToList();
            default:
                throw new InputException($"--config {path}: key \"{key}\": expected a {(option.Arity.MaximumNumberOfValues > 1 ? "list, " : "")}string, number or boolean, got {value.ValueKind.ToString().ToLowerInvariant()}");
        }
    }

    /// <summary>" (did you mean "val-frac"?)" for val_frac, valFrac and the like.</summary>
    private static string Hint(Command command, string key)
    {
        var kebab = string.Concat(key.Select((ch, i) => char.IsUpper(ch) ? (i > 0 ? "-" : "") + char.ToLowerInvariant(ch) : ch == '_' ? "-" : ch.ToString()));
        kebab = kebab.TrimStart('-');
        return kebab != key && Find(command, kebab) is not null ? $" (did you mean \"{kebab}\"?)" : "";
    }

    private static string FirstSentence(string message)
    {
        foreach (var tail in new[] { " Path:", " LineNumber:" })
        {
            int cut = message.IndexOf(tail, StringComparison.Ordinal);
            if (cut > 0) message = message[..cut];
        }
        return message.Trim();
    }
}
