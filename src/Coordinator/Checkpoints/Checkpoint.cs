using System.Buffers.Binary;
using System.Numerics;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using DistRnn.Configuration;
using DistRnn.Coordinator.Training;
using DistRnn.Data;
using DistRnn.Model;

namespace DistRnn.Coordinator.Checkpoints;

/// <summary>The JSON header of a checkpoint: everything but the tensors.</summary>
public sealed record CheckpointHeader
{
    public int FormatVersion { get; init; } = Checkpoint.FormatVersion;
    public long Step { get; init; }
    public required TrainConfig Config { get; init; }
    public required string[] Vocab { get; init; }
    public required string CorpusSha256 { get; init; }
    public required string CorpusName { get; init; }
    public required string ParamsSha256 { get; init; }
    public double[] OptimizerScalars { get; init; } = [];
    public int SkippedSteps { get; init; }
    public int ConsecutiveBadSteps { get; init; }
    public double BestValLoss { get; init; } = double.PositiveInfinity;
    public double? ValLoss { get; init; }
    public double? TrainLoss { get; init; }
    public DateTimeOffset Created { get; init; }
    /// <summary>The run's settings for a resume; null in checkpoints written before they were saved.</summary>
    public RunSettings? Run { get; init; }

    /// <summary>
    /// The first field that is missing or makes no sense, or null. The checksum only proves the bytes are the
    /// ones written; a header from another program (or an older bug) must still not reach the code that trusts it.
    /// </summary>
    public string? Problem()
    {
        if (Config is null) return "no \"config\"";
        if (Vocab is null || Vocab.Length == 0) return "no \"vocab\"";
        if (Array.IndexOf(Vocab, null) >= 0) return "a null \"vocab\" entry";
        if (!IsSha256(CorpusSha256)) return "\"corpus-sha256\" is not a SHA-256";
        if (CorpusName is null) return "no \"corpus-name\"";
        if (!IsSha256(ParamsSha256)) return "\"params-sha256\" is not a SHA-256";
        if (OptimizerScalars is null || OptimizerScalars.Any(v => !double.IsFinite(v))) return "\"optimizer-scalars\" missing or not finite";
        if (Step < 0 || SkippedSteps < 0 || ConsecutiveBadSteps < 0 || SkippedSteps > Step) return $"step counters out of range (step {Step}, skipped {SkippedSteps}, in a row {ConsecutiveBadSteps})";
        if (double.IsNaN(BestValLoss)) return "\"best-val-loss\" is NaN";
        if (Config.Optimizer is null || Config.Activation is null || Config.Precision is null) return "\"config\" lacks optimizer, activation or precision";
        try { Config.Validate(); }
        catch (InputException e) { return $"\"config\": {e.Message}"; }
        return Run?.Problem() is string run ? $"\"run\": {run}" : null;
    }

    private static bool IsSha256(string? s) => s is { Length: 64 } && s.All(char.IsAsciiHexDigitLower);
}

/// <summary>
/// A checkpoint file: "DRNNCKPT", format version, header length + JSON header, tensor count, each tensor as
/// element count + little-endian values in the training precision (parameters first, then optimiser state),
/// and a SHA-256 of every preceding byte. Written to a temporary file and renamed, so a crash never leaves
/// a half-written checkpoint under the real name; a truncated or altered file fails its checksum.
/// </summary>
public sealed class Checkpoint
{
    public const int FormatVersion = 1;
    private static readonly byte[] Magic = "DRNNCKPT"u8.ToArray();
    private static readonly JsonSerializerOptions HeaderJson = new(TrainConfig.Json)
    {
        NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    public CheckpointHeader Header { get; }
    /// <summary>float[] or double[] per the header's precision: [0] the parameters, then the optimiser state, then (--state carry) the carried states.</summary>
    public IReadOnlyList<Array> Tensors { get; }
    public string Path { get; }

    private Checkpoint(CheckpointHeader header, IReadOnlyList<Array> tensors, string path)
    {
        Header = header; Tensors = tensors; Path = path;
    }

    public Vocabulary Vocabulary => new(Header.Vocab);
    public ModelShape Shape => Header.Config.ShapeFor(Header.Vocab.Length);

    public Tensors<T> Params<T>() where T : unmanaged, IFloatingPointIeee754<T>
        => new(Shape, (T[])Tensors[0]);

    public static CheckpointHeader HeaderOf<T>(TrainingSession<T> s, double? trainLoss, double? valLoss, RunSettings? run = null) where T : unmanaged, IFloatingPointIeee754<T>
        => new()
        {
            Step = s.Step,
            Config = s.Config,
            Vocab = s.Corpus.Vocabulary.Symbols.ToArray(),
            CorpusSha256 = s.Corpus.Sha256,
            CorpusName = s.Corpus.Name,
            ParamsSha256 = s.ParamsSha256(),
            OptimizerScalars = s.Optimizer.StateScalars,
            SkippedSteps = s.SkippedSteps,
            ConsecutiveBadSteps = s.ConsecutiveBadSteps,
            BestValLoss = s.BestValLoss,
            TrainLoss = trainLoss,
            ValLoss = valLoss,
            Created = DateTimeOffset.UtcNow,
            Run = run?.ToSave(),
        };

    /// <summary>Writes the session's state atomically to <paramref name="path"/>.</summary>
    public static void Save<T>(TrainingSession<T> s, string path, double? trainLoss, double? valLoss, RunSettings? run = null) where T : unmanaged, IFloatingPointIeee754<T>
        => AtomicFile.Write(path, Bytes(s, trainLoss, valLoss, run));

    /// <summary>The session's state as a checkpoint file's bytes (also what a standby coordinator receives: docs/failover.md).</summary>
    public static byte[] Bytes<T>(TrainingSession<T> s, double? trainLoss, double? valLoss, RunSettings? run = null) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var tensors = new List<T[]> { s.Params.Data };
        tensors.AddRange(s.Optimizer.StateArrays);
        if (s.CarriedStates is T[] carried) tensors.Add(carried);   // --state carry: last, batch × StateSize
        return Encode(HeaderOf(s, trainLoss, valLoss, run), tensors);
    }

    public static byte[] Encode<T>(CheckpointHeader header, IReadOnlyList<T[]> tensors) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var headerBytes = JsonSerializer.SerializeToUtf8Bytes(header, HeaderJson);
        using var ms = new MemoryStream();
        ms.Write(Magic);
        WriteInt32(ms, FormatVersion);
        WriteInt32(ms, headerBytes.Length);
        ms.Write(headerBytes);
        WriteInt32(ms, tensors.Count);
        Span<byte> len = stackalloc byte[8];
        foreach (var t in tensors)
        {
            BinaryPrimitives.WriteInt64LittleEndian(len, t.Length);
            ms.Write(len);
            ms.Write(TensorBytes.ToBytes<T>(t));
        }
        ms.Write(SHA256.HashData(ms.GetBuffer().AsSpan(0, (int)ms.Length)));
        return ms.ToArray();
    }

    private static void WriteInt32(Stream s, int v)
    {
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(b, v);
        s.Write(b);
    }

    /// <summary>Reads and verifies a checkpoint file; any defect is an <see cref="InputException"/> naming the file.</summary>
    public static Checkpoint Load(string path)
    {
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        { throw new InputException($"checkpoint {path}: file not found"); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        { throw new InputException($"checkpoint {path}: cannot read ({e.Message})"); }
        return Decode(bytes, path);
    }

    public static Checkpoint Decode(byte[] bytes, string path)
    {
        InputException Bad(string why) => new($"checkpoint {path}: {why}");
        if (bytes.Length < Magic.Length + 12 + 32 || !bytes.AsSpan(0, Magic.Length).SequenceEqual(Magic))
            throw Bad("not a DistRnn checkpoint (bad magic or too short)");
        var body = bytes.AsSpan(0, bytes.Length - 32);
        if (!SHA256.HashData(body).AsSpan().SequenceEqual(bytes.AsSpan(bytes.Length - 32)))
            throw Bad("checksum mismatch (truncated or corrupted)");
        int pos = Magic.Length;
        int version = BinaryPrimitives.ReadInt32LittleEndian(body[pos..]); pos += 4;
        if (version != FormatVersion) throw Bad($"format version {version} is not supported (expected {FormatVersion})");
        int headerLen = BinaryPrimitives.ReadInt32LittleEndian(body[pos..]); pos += 4;
        if (headerLen <= 0 || headerLen > body.Length - pos) throw Bad("header length out of range");
        CheckpointHeader header;
        try { header = JsonSerializer.Deserialize<CheckpointHeader>(body.Slice(pos, headerLen), HeaderJson) ?? throw Bad("empty header"); }
        catch (JsonException e) { throw Bad($"unreadable header ({e.Message})"); }
        if (header.Problem() is string problem) throw Bad($"header: {problem}");
        pos += headerLen;
        var precision = header.Config.PrecisionKind;
        int size = precision.Bytes();
        int count = BinaryPrimitives.ReadInt32LittleEndian(body[pos..]); pos += 4;
        if (count < 1 || count > 16) throw Bad($"tensor count {count} out of range");
        var shape = header.Config.ShapeFor(header.Vocab.Length);
        var tensors = new List<Array>();
        for (int i = 0; i < count; i++)
        {
            if (body.Length - pos < 8) throw Bad("truncated tensor table");
            long n = BinaryPrimitives.ReadInt64LittleEndian(body[pos..]); pos += 8;
            long expected = header.Config.CarriesState && i == count - 1 ? (long)header.Config.Batch * shape.StateSize : shape.Count;
            if (n != expected) throw Bad($"tensor {i} has {n} values, expected {expected}");
            if ((long)body.Length - pos < n * size) throw Bad("truncated tensor data");
            var src = body.Slice(pos, (int)n * size);
            if (precision == Precision.Float32) { var a = new float[n]; TensorBytes.Read<float>(src, a); tensors.Add(a); }
            else { var a = new double[n]; TensorBytes.Read<double>(src, a); tensors.Add(a); }
            pos += (int)n * size;
        }
        if (pos != body.Length) throw Bad("trailing bytes after the tensors");
        return new Checkpoint(header, tensors, path);
    }

    /// <summary>Rebuilds the training session this checkpoint was taken from, on the same corpus.</summary>
    public TrainingSession<T> ToSession<T>(Corpus corpus, TrainConfig config) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (corpus.Sha256 != Header.CorpusSha256)
            throw new InputException($"checkpoint {Path}: was trained on a different corpus ({Header.CorpusName}, sha256 {Header.CorpusSha256[..12]}…) than {corpus.Name} (sha256 {corpus.Sha256[..12]}…)");
        var shape = Shape;
        var optimizer = Optimizer<T>.Create(config, shape.Count);
        int carried = Header.Config.CarriesState ? 1 : 0;
        if (optimizer.StateArrays.Count != Tensors.Count - 1 - carried) throw new InputException($"checkpoint {Path}: optimiser state does not match {config.Optimizer}");
        for (int i = 0; i < optimizer.StateArrays.Count; i++) ((T[])Tensors[i + 1]).CopyTo(optimizer.StateArrays[i], 0);
        optimizer.StateScalars = Header.OptimizerScalars;
        var states = carried == 1 ? (T[])((T[])Tensors[^1]).Clone() : null;
        var session = new TrainingSession<T>(config, corpus, new Tensors<T>(shape, (T[])((T[])Tensors[0]).Clone()), optimizer, Header.Step, states);
        session.RestoreCounters(Header.SkippedSteps, Header.ConsecutiveBadSteps, Header.BestValLoss);
        return session;
    }
}
