using System.Buffers.Binary;
using System.Text;
using DistRnn.Model;
using DistRnn.Reduction;

namespace DistRnn.Protocol;

/// <summary>
/// Writes little-endian fields into a byte[]; with no buffer it only counts, so a message is measured
/// first and then written into one exactly sized array (tensor bytes are copied once, never re-grown).
/// With <c>deferTensorValues</c> a tensor's values are left out (its precision and count are written) and the
/// tensor kept in <see cref="Deferred"/>: the caller sends them itself, right after; nothing may follow them.
/// </summary>
internal struct WireWriter(byte[]? buffer, int start = 0, bool deferTensorValues = false)
{
    private readonly int _start = start;
    private int _pos = start;
    /// <summary>Bytes written (or counted) since <c>start</c>.</summary>
    public readonly int Length => _pos - _start;

    /// <summary>The tensor whose values were left out (deferTensorValues), or null.</summary>
    public TensorPayload? Deferred { get; private set; }

    public void Int(int v) { NothingAfterDeferred(); if (buffer is not null) BinaryPrimitives.WriteInt32LittleEndian(buffer.AsSpan(_pos), v); _pos += 4; }
    public void Long(long v) { NothingAfterDeferred(); if (buffer is not null) BinaryPrimitives.WriteInt64LittleEndian(buffer.AsSpan(_pos), v); _pos += 8; }
    public void Double(double v) { NothingAfterDeferred(); if (buffer is not null) BinaryPrimitives.WriteDoubleLittleEndian(buffer.AsSpan(_pos), v); _pos += 8; }
    public void Bool(bool v) { NothingAfterDeferred(); if (buffer is not null) buffer[_pos] = v ? (byte)1 : (byte)0; _pos += 1; }

    public void String(string s)
    {
        int n = Encoding.UTF8.GetByteCount(s);
        Int(n);
        if (buffer is not null) Encoding.UTF8.GetBytes(s, buffer.AsSpan(_pos, n));
        _pos += n;
    }

    /// <summary>A short opaque byte field (nonce, proof): its length, then the bytes; null is written as empty.</summary>
    public void Bytes(byte[]? b)
    {
        b ??= [];
        Int(b.Length);
        if (buffer is not null) b.CopyTo(buffer.AsSpan(_pos));
        _pos += b.Length;
    }

    public void Strings(string[] list) { Int(list.Length); foreach (var s in list) String(s); }

    public void Subtree(Subtree node) { Int(node.Level); Int(node.Index); }

    public void Subtrees(Subtree[] nodes) { Int(nodes.Length); foreach (var n in nodes) Subtree(n); }

    public void Tensor(TensorPayload t)
    {
        Int((int)t.Precision);
        Int(t.Count);
        if (buffer is not null && deferTensorValues) Deferred = t;
        else if (buffer is not null) t.WriteTo(buffer.AsSpan(_pos, t.ByteLength));
        _pos += t.ByteLength;
    }

    /// <summary>A tensor that may be absent (the carried states of --state carry): null is written as an empty float32 tensor.</summary>
    /// Its values are always written here (never deferred: it is not the message's last field).
    public void OptionalTensor(TensorPayload? t)
    {
        Int((int)(t?.Precision ?? Precision.Float32));
        Int(t?.Count ?? 0);
        if (t is null) return;
        if (buffer is not null) t.WriteTo(buffer.AsSpan(_pos, t.ByteLength));
        _pos += t.ByteLength;
    }

    /// <summary>Deferred values go to the wire after everything written here, so they must be the message's last field.</summary>
    private readonly void NothingAfterDeferred()
    {
        if (Deferred is not null) throw new InvalidOperationException("a field after a tensor whose values are sent apart");
    }
}

/// <summary>
/// Upper bounds of what one message may hold, besides the bytes it actually has: a forged length can neither
/// read past the frame nor make the receiver allocate more than these (the tensor bound is the configured model
/// size, so a gradient larger than the model is refused before any array is made).
/// </summary>
public sealed record WireLimits(int MaxTensorValues, int MaxStringBytes = WireLimits.DefaultMaxStringBytes,
    int MaxSubtrees = WireLimits.DefaultMaxSubtrees, int MaxBytesField = WireLimits.DefaultMaxBytesField)
{
    public const int DefaultMaxStringBytes = 1 << 20;  // the run's configuration JSON is a few hundred bytes
    public const int DefaultMaxSubtrees = 1 << 16;     // a step has at most as many shards as sequences
    public const int DefaultMaxBytesField = 16 * 1024; // nonces and proofs are 32 bytes, a certificate (DER) and its signature a few KB
    public const int MaxLevel = 30;

    public static readonly WireLimits Default = new(int.MaxValue);
}

/// <summary>
/// Reads what <see cref="WireWriter"/> wrote; every length is checked against the bytes left and the limits.
/// The message is the first <c>length</c> bytes of <c>buffer</c> (all of it by default: a pooled buffer is longer).
/// </summary>
internal sealed class WireReader(byte[] buffer, WireLimits? limits = null, int length = -1)
{
    private readonly WireLimits _limits = limits ?? WireLimits.Default;
    private readonly int _end = length < 0 ? buffer.Length : Math.Min(length, buffer.Length);
    private int _pos;

    public bool AtEnd => _pos == _end;

    private ReadOnlySpan<byte> Take(int n)
    {
        if (n < 0 || n > _end - _pos) throw new ProtocolException($"message truncated: needs {n} more bytes at offset {_pos} of {_end}");
        var span = buffer.AsSpan(_pos, n);
        _pos += n;
        return span;
    }

    public int Int() => BinaryPrimitives.ReadInt32LittleEndian(Take(4));
    public long Long() => BinaryPrimitives.ReadInt64LittleEndian(Take(8));
    public double Double() => BinaryPrimitives.ReadDoubleLittleEndian(Take(8));
    public bool Bool() => Take(1)[0] != 0;
    public string String()
    {
        int n = Int();
        if (n > _limits.MaxStringBytes) throw new ProtocolException($"string of {n} bytes exceeds the limit of {_limits.MaxStringBytes}");
        return Encoding.UTF8.GetString(Take(n));
    }

    public byte[] Bytes()
    {
        int n = Int();
        if (n > _limits.MaxBytesField) throw new ProtocolException($"byte field of {n} bytes exceeds the limit of {_limits.MaxBytesField}");
        return Take(n).ToArray();
    }

    /// <summary>A list of strings (a tree plan's actor paths): at most <see cref="WireLimits.MaxSubtrees"/> of them, each bounded as any string.</summary>
    public string[] Strings()
    {
        int n = Int();
        if (n < 0 || n > _limits.MaxSubtrees || n > (_end - _pos) / 4) throw new ProtocolException($"invalid string count {n}");
        var list = new string[n];
        for (int i = 0; i < n; i++) list[i] = String();
        return list;
    }

    /// <summary>A byte field of up to the model's size in float64 bytes (a part of a checkpoint: ReplicaSnapshotPart).</summary>
    public byte[] LargeBytes()
    {
        int n = Int();
        if (n > (long)_limits.MaxTensorValues * sizeof(double)) throw new ProtocolException($"byte field of {n} bytes exceeds the model's {_limits.MaxTensorValues} float64 values");
        return Take(n).ToArray();
    }

    public Subtree Subtree()
    {
        int level = Int(), index = Int();
        if (level < 0 || level > WireLimits.MaxLevel || index < 0 || (long)index << level > int.MaxValue) throw new ProtocolException($"invalid subtree L{level}#{index}");
        return new Subtree(level, index);
    }

    public Subtree[] Subtrees()
    {
        int n = Int();
        if (n < 0 || n > _limits.MaxSubtrees || n > (_end - _pos) / 8) throw new ProtocolException($"invalid subtree count {n}");
        var nodes = new Subtree[n];
        for (int i = 0; i < n; i++) nodes[i] = Subtree();
        return nodes;
    }

    public TensorPayload Tensor()
    {
        int p = Int();
        if (p != (int)Precision.Float32 && p != (int)Precision.Float64) throw new ProtocolException($"unknown tensor precision {p}");
        var precision = (Precision)p;
        int count = Int();
        if (count > _limits.MaxTensorValues)
            throw new ProtocolException($"tensor of {count} values exceeds the configured model size of {_limits.MaxTensorValues} values");
        if (count < 0 || (long)count * precision.Bytes() > _end - _pos)
            throw new ProtocolException($"tensor of {count} values does not fit the {_end - _pos} bytes left");
        int bytes = count * precision.Bytes();
        var payload = TensorPayload.FromWire(precision, count, buffer.AsMemory(_pos, bytes));
        _pos += bytes;
        return payload;
    }

    /// <summary>What <see cref="WireWriter.OptionalTensor"/> wrote: null for an empty tensor.</summary>
    public TensorPayload? OptionalTensor()
    {
        var t = Tensor();
        return t.Count == 0 ? null : t;
    }

    public void End()
    {
        if (_pos != _end) throw new ProtocolException($"{_end - _pos} unexpected bytes after the message");
    }
}
