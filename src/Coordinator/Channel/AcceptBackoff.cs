namespace DistRnn.Coordinator.Channel;

/// <summary>
/// How long the listener pauses after a failed accept. Out of descriptors (EMFILE, ENFILE) or kernel memory, the
/// connection stays in the backlog and an immediate retry fails the same way, so a loop without a pause spins a
/// core while nothing improves. The pause doubles from <see cref="First"/> to at most <see cref="Longest"/>; an
/// accept that works starts over.
/// </summary>
public sealed class AcceptBackoff
{
    public static readonly TimeSpan First = TimeSpan.FromMilliseconds(10), Longest = TimeSpan.FromSeconds(1);
    private TimeSpan _next = First;

    /// <summary>An accept failed: the pause before the next.</summary>
    public TimeSpan Failed()
    {
        var pause = _next;
        _next = _next * 2 < Longest ? _next * 2 : Longest;
        return pause;
    }

    public void Succeeded() => _next = First;
}
