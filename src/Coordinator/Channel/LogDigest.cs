namespace DistRnn.Coordinator.Channel;

/// <summary>
/// The listener's notes without a line for each of a flood's connections: the first note of a kind is told at once,
/// later ones of that kind within <see cref="Window"/> only counted, and the count told with the next line of the
/// kind after the window.
/// </summary>
public sealed class LogDigest(Action<string> log, Func<TimeSpan> now)
{
    public static readonly TimeSpan Window = TimeSpan.FromSeconds(10);
    // kinds carry peers' addresses: past this many the counts start over, so many sources cannot grow it without bound
    private const int MaxKinds = 256;
    private readonly Dictionary<string, (TimeSpan Told, int Untold)> _kinds = new();

    /// <param name="kind">what makes two notes alike</param>
    public void Note(string kind, string text)
    {
        string line;
        lock (_kinds)
        {
            var at = now();
            if (_kinds.TryGetValue(kind, out var last) && at - last.Told < Window)
            {
                _kinds[kind] = last with { Untold = last.Untold + 1 };
                return;
            }
            if (_kinds.Count >= MaxKinds) _kinds.Clear();
            _kinds[kind] = (at, 0);
            line = last.Untold > 0 ? $"{text} (and {last.Untold} more like it in the {Window.TotalSeconds:F0} s before)" : text;
        }
        log(line);
    }
}
