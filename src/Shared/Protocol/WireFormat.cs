using System.Buffers.Binary;
using System.Text;
using DistRnn.Model;
using DistRnn.Training;

namespace DistRnn.Protocol;

/// <summary>
/// Writes little-endian fields into a byte[]; with no buffer it only counts, so a message is measured
/// first and then written into one exactly sized array (tensor bytes are copied once, never re-grown).
/// </summary>
internal struct WireWriter(byte[]? buffer)
{
    private int _pos;
    public readonly int Length => _pos;

    public void Int(int v) { if (buffer is not null) BinaryPrimitives.WriteInt32LittleEndian(buffer.AsSpan(_pos), v); _pos += 4; }
    public void Long(long v) { if (buffer is not null) BinaryPrimitives.WriteInt64LittleEndian(buffer.AsSpan(_pos), v); _pos += 8; }
    public void Double(double v) { if (buffer is not null) BinaryPrimitives.WriteDoubleLittleEndian(buffer.AsSpan(_pos), v); _pos += 8; }
    public void Bool(bool v) { if (buffer is not null) buffer[_pos] = v ? (byte)1 : (byte)0; _pos += 1; }

    public void String(string s)
    {
        int n = Encoding.UTF8.GetByteCount(s);
        Int(n);
        if (buffer is not null) Encoding.UTF8.GetBytes(s, buffer.AsSpan(_pos, n));
        _pos += n;
    }

    public void Subtree(Subtree node) { Int(node.Level); Int(node.Index); }

    public void Subtrees(Subtree[] nodes) { Int(nodes.Length); foreach (var n in nodes) Subtree(n); }

    public void Tensor(TensorPayload t)
    {
        Int((int)t.Precision);
        Int(t.Count);
        if (buffer is not null) t.WriteTo(buffer.AsSpan(_pos, t.ByteLength));
        _pos += t.ByteLength;
    }
}

/// <summary>Reads what <see cref="WireWriter"/> wrote; every length is checked against the bytes left.</summary>
internal sealed class WireReader(byte[] buffer)
{
    private int _pos;

    private ReadOnlySpan<byte> Take(int n)
    {
        if (n < 0 || n > buffer.Length - _pos) throw new ProtocolException($"message truncated: needs {n} more bytes at offset {_pos} of {buffer.Length}");
        var span = buffer.AsSpan(_pos, n);
        _pos += n;
        return span;
    }

    public int Int() => BinaryPrimitives.ReadInt32LittleEndian(Take(4));
    public long Long() => BinaryPrimitives.ReadInt64LittleEndian(Take(8));
    public double Double() => BinaryPrimitives.ReadDoubleLittleEndian(Take(8));
    public bool Bool() => Take(1)[0] != 0;
    public string String() => Encoding.UTF8.GetString(Take(Int()));

    public Subtree Subtree()
    {
        int level = Int(), index = Int();
        if (level < 0 || level > 30 || index < 0) throw new ProtocolException($"invalid subtree L{level}#{index}");
        return new Subtree(level, index);
    }

    public Subtree[] Subtrees()
    {
        int n = Int();
        if (n < 0 || n > (buffer.Length - _pos) / 8) throw new ProtocolException($"invalid subtree count {n}");
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
        if (count < 0 || (long)count * precision.Bytes() > buffer.Length - _pos)
            throw new ProtocolException($"tensor of {count} values does not fit the {buffer.Length - _pos} bytes left");
        int bytes = count * precision.Bytes();
        var payload = TensorPayload.FromWire(precision, count, buffer.AsMemory(_pos, bytes));
        _pos += bytes;
        return payload;
    }

    public void End()
    {
        if (_pos != buffer.Length) throw new ProtocolException($"{buffer.Length - _pos} unexpected bytes after the message");
    }
}
