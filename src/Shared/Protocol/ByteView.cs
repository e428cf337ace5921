using System.Buffers;
using System.Runtime.InteropServices;

namespace DistRnn.Protocol;

/// <summary>
/// An array of values seen as its raw bytes, as a <see cref="Memory{T}"/> that asynchronous socket and TLS writes
/// accept: a tensor goes to the wire straight from the sender's array instead of being copied into a frame first.
/// The bytes are the host's: callers use it on little-endian hosts only.
/// </summary>
internal sealed class ByteView<T>(T[] array) : MemoryManager<byte> where T : unmanaged
{
    public override Span<byte> GetSpan() => MemoryMarshal.AsBytes(array.AsSpan());

    public override unsafe MemoryHandle Pin(int elementIndex = 0)
    {
        var handle = GCHandle.Alloc(array, GCHandleType.Pinned);
        return new MemoryHandle((byte*)handle.AddrOfPinnedObject() + elementIndex, handle);
    }

    public override void Unpin() { } // the MemoryHandle frees its GCHandle

    protected override void Dispose(bool disposing) { }
}
