using System.Net;
using System.Net.Sockets;

namespace DistRnn.Tests.Cluster;

/// <summary>
/// Idle TCP connections to one port, as a flood would hold them: each connection reads whatever the server says
/// and never says a word. <see cref="Greeted"/> counts those the server began a handshake on (its hello arrived),
/// <see cref="HungUp"/> those it closed without a word. With <c>reconnect</c> each slot opens a new connection
/// a second after its last one ended, so the pressure lasts until disposed.
/// </summary>
internal sealed class IdleFlood : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly Task[] _slots;
    private int _opened, _greeted, _hungUp;

    public IdleFlood(IPEndPoint target, int connections, bool reconnect)
    {
        _slots = Enumerable.Range(0, connections).Select(_ => Task.Run(() => Slot(target, reconnect))).ToArray();
    }

    public int Opened => Volatile.Read(ref _opened);
    public int Greeted => Volatile.Read(ref _greeted);
    public int HungUp => Volatile.Read(ref _hungUp);

    /// <summary>Waits (bounded) until <paramref name="done"/> holds; returns whether it does.</summary>
    public async Task<bool> Until(Func<IdleFlood, bool> done, TimeSpan limit)
    {
        for (var waited = System.Diagnostics.Stopwatch.StartNew(); !done(this) && waited.Elapsed < limit;) await Task.Delay(50);
        return done(this);
    }

    private async Task Slot(IPEndPoint target, bool reconnect)
    {
        var buffer = new byte[64];
        do
        {
            try
            {
                using var socket = new Socket(target.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
                await socket.ConnectAsync(target, _stop.Token);
                Interlocked.Increment(ref _opened);
                if (await socket.ReceiveAsync(buffer, _stop.Token) == 0) Interlocked.Increment(ref _hungUp);
                else
                {
                    Interlocked.Increment(ref _greeted);
                    while (await socket.ReceiveAsync(buffer, _stop.Token) > 0) { } // silent until the server gives up on it
                }
                if (reconnect) await Task.Delay(TimeSpan.FromSeconds(1), _stop.Token);
            }
            catch (OperationCanceledException) { return; }
            catch (SocketException) { if (reconnect) await Task.Delay(TimeSpan.FromSeconds(1)); } // refused or reset: try again, as a flood would
        } while (reconnect && !_stop.IsCancellationRequested);
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        await Task.WhenAll(_slots).WaitAsync(TimeSpan.FromSeconds(30));
    }
}
