using System.Net;

namespace DistRnn.Coordinator.Channel;

/// <param name="MaxPending">handshakes in progress at once, from everyone</param>
/// <param name="MaxPendingPerSource">of those, from one address (so that one host cannot take every place on a real network)</param>
/// <param name="DescriptorReserve">file descriptors the listener always leaves free for the coordinator's own (checkpoints, metrics, Akka's connections)</param>
public sealed record AdmissionLimits(int MaxPending = 64, int MaxPendingPerSource = 16, int DescriptorReserve = 64)
{
    public static readonly AdmissionLimits Default = new();
}

/// <summary>
/// Which accepted connections may begin a handshake. Until it proves a ticket a peer is a stranger, and each one
/// holds a descriptor and a task for up to the handshake timeout; so strangers are counted and bounded
/// (<see cref="AdmissionLimits"/>), and no connection is kept that would leave fewer than the reserve of the
/// process's descriptors free (RLIMIT_NOFILE less those open). A refused connection is closed at once rather than
/// left in the kernel's backlog: its peer learns at once (a worker goes on over Akka) instead of queueing behind
/// the flood, and as the flood's handshakes end their places free, so a worker gets through soon after it.
/// </summary>
public sealed class HandshakeAdmission(AdmissionLimits limits)
{
    private readonly Dictionary<IPAddress, int> _bySource = new();
    private int _pending;

    public int Pending { get { lock (_bySource) return _pending; } }

    /// <param name="source">the peer's address</param>
    /// <param name="freeDescriptors">how many more descriptors the process may open, the accepted connection's already counted; null = unknown (no rule)</param>
    /// <returns>null: admitted (<see cref="Release"/> it when its handshake ends, whatever the outcome); else why it is refused</returns>
    public string? TryAdmit(IPAddress source, long? freeDescriptors)
    {
        if (freeDescriptors < limits.DescriptorReserve)
            return $"fewer than {limits.DescriptorReserve} file descriptors left, kept for the coordinator's own files";
        lock (_bySource)
        {
            if (_pending >= limits.MaxPending) return $"{limits.MaxPending} handshakes already in progress";
            _bySource.TryGetValue(source, out int fromSource);
            if (fromSource >= limits.MaxPendingPerSource) return $"{limits.MaxPendingPerSource} handshakes from {source} already in progress";
            _bySource[source] = fromSource + 1;
            _pending++;
            return null;
        }
    }

    /// <summary>The handshake of a connection admitted from <paramref name="source"/> ended.</summary>
    public void Release(IPAddress source)
    {
        lock (_bySource)
        {
            if (!_bySource.TryGetValue(source, out int fromSource)) return;
            if (fromSource == 1) _bySource.Remove(source);
            else _bySource[source] = fromSource - 1;
            _pending--;
        }
    }
}
