namespace DistRnn.Coordinator.Membership;

/// <summary>
/// When to offer a worker a (new) data channel, as plain logic (times are passed in): at once when it registers or
/// comes back (a healed partition, or an answer while it was counted unreachable), and again when its tensors
/// still come over Akka — its channel broke, or the offer failed — but no sooner than a wait after the last offer,
/// which doubles with each offer up to <see cref="MaxRetry"/> (a worker that cannot connect is not asked every
/// step); after a channel broke, the first answer over Akka brings an offer at once. A new offer spends the
/// worker's previous ticket. Not thread-safe.
/// </summary>
public sealed class ChannelOffers<TWorker>(TimeSpan firstRetry, TimeSpan maxRetry) where TWorker : notnull
{
    private readonly Dictionary<TWorker, (TimeSpan At, TimeSpan Wait)> _last = new();

    /// <summary>The first wait: the channel's handshake timeout, so an offer still connecting is not replaced.</summary>
    public static ChannelOffers<TWorker> Default => new(TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(60));

    public TimeSpan FirstRetry { get; } = firstRetry;
    public TimeSpan MaxRetry { get; } = maxRetry;

    /// <summary>The worker registered or came back: it is offered a channel now.</summary>
    public void OfferedNow(TWorker worker, TimeSpan now) => _last[worker] = (now, FirstRetry);

    /// <summary>
    /// A tensor of the worker came over Akka although it has no channel: whether to offer one again now (if so, the
    /// offer is counted).
    /// </summary>
    public bool Due(TWorker worker, TimeSpan now)
    {
        if (_last.TryGetValue(worker, out var last) && now - last.At < last.Wait) return false;
        var wait = last.Wait == TimeSpan.Zero ? FirstRetry : TimeSpan.FromTicks(Math.Min(last.Wait.Ticks * 2, MaxRetry.Ticks));
        _last[worker] = (now, wait);
        return true;
    }

    /// <summary>Its channel broke (it had one, so the last offer worked): the next is due at once.</summary>
    public void Broke(TWorker worker) => _last.Remove(worker);

    /// <summary>The worker no longer takes part.</summary>
    public void Forget(TWorker worker) => _last.Remove(worker);
}
