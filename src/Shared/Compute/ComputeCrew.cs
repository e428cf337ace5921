namespace DistRnn.Compute;

/// <summary>
/// Long-lived compute threads, the only place the maths runs in parallel (the compute engine of every path, the
/// evaluator): one lead that runs the jobs one at a time (<see cref="Submit"/>), and helpers that join it for the
/// parallel part of a job (<see cref="Together"/>). Dedicated threads keep the maths off the thread pool (where
/// Akka's heartbeats run), and long-lived ones keep their per-thread kernel scratch (<c>Workspace</c>, several MB
/// pinned) from step to step: a thread started per job would allocate it afresh every step (docs/benchmarks.md
/// has what that cost).
/// </summary>
public sealed class ComputeCrew : IDisposable
{
    private readonly Thread[] _threads;
    private readonly System.Collections.Concurrent.BlockingCollection<Action> _jobs = new();
    private readonly object _gate = new();
    private readonly ManualResetEventSlim _helpersDone = new(false);
    private Action<int>? _body;
    private int _round, _pending;
    private bool _disposed;
    private Exception? _failure;

    /// <param name="size">threads in all (the lead counts), one per core to be used</param>
    public ComputeCrew(int size, string name)
    {
        Size = Math.Max(1, size);
        _threads = new Thread[Size];
        _threads[0] = new Thread(Lead) { IsBackground = true, Name = $"{name}-lead" };
        for (int i = 1; i < Size; i++)
        {
            int index = i;
            _threads[i] = new Thread(() => Helper(index)) { IsBackground = true, Name = $"{name}-{i}" };
        }
        foreach (var t in _threads) t.Start();
    }

    public int Size { get; }

    /// <summary>Runs <paramref name="job"/> on the lead thread after the jobs submitted before it; the task ends with it.</summary>
    public Task Submit(Action job)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        try
        {
            _jobs.Add(() =>
            {
                try { job(); done.SetResult(); }
                catch (OperationCanceledException e) { done.SetCanceled(e.CancellationToken); }
                catch (Exception e) { done.SetException(e); }
            });
        }
        catch (InvalidOperationException) { done.SetException(new ObjectDisposedException(nameof(ComputeCrew))); }
        return done.Task;
    }

    /// <summary>
    /// From the lead thread (inside a submitted job): <paramref name="body"/>(i) on every thread i of the crew at
    /// once, 0 being the lead itself; returns when all have returned, and throws if one of them threw.
    /// </summary>
    public void Together(Action<int> body)
    {
        if (Thread.CurrentThread != _threads[0]) throw new InvalidOperationException("Together runs on the crew's lead thread");
        if (Size == 1) { body(0); return; }
        _failure = null;
        _body = body;
        _helpersDone.Reset();
        Volatile.Write(ref _pending, Size - 1);
        lock (_gate)
        {
            _round++;
            Monitor.PulseAll(_gate);
        }
        Exception? mine = null;
        try { body(0); }
        catch (Exception e) { mine = e; }
        _helpersDone.Wait();
        _body = null;
        if ((mine ?? _failure) is Exception failure) throw failure is OperationCanceledException ? failure : new AggregateException("a compute thread failed", failure);
    }

    private void Lead()
    {
        foreach (var job in _jobs.GetConsumingEnumerable()) job();
    }

    private void Helper(int index)
    {
        int seen = 0;
        while (true)
        {
            lock (_gate)
            {
                while (_round == seen && !_disposed) Monitor.Wait(_gate);
                if (_round == seen) return; // disposed, no round pending
                seen = _round;
            }
            try { _body!(index); }
            catch (Exception e) { Interlocked.CompareExchange(ref _failure, e, null); }
            if (Interlocked.Decrement(ref _pending) == 0) _helpersDone.Set();
        }
    }

    /// <summary>No new jobs; the threads end after the job in progress (they are background threads: they never hold the process).</summary>
    public void Dispose()
    {
        _jobs.CompleteAdding();
        lock (_gate)
        {
            _disposed = true;
            Monitor.PulseAll(_gate);
        }
    }
}
