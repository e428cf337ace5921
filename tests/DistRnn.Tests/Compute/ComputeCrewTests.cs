using System.Collections.Concurrent;
using DistRnn.Compute;

namespace DistRnn.Tests.Compute;

/// <summary>The long-lived compute threads: jobs one after another on the lead, rounds on every thread, failures surfaced.</summary>
public sealed class ComputeCrewTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Jobs_run_in_order_on_one_long_lived_lead_and_rounds_reach_every_thread()
    {
        using var crew = new ComputeCrew(3, "test-crew");
        var order = new ConcurrentQueue<int>();
        var leads = new ConcurrentBag<int>();
        var helpers = new ConcurrentBag<(int Job, int Index, int Thread)>();
        var jobs = Enumerable.Range(0, 20).Select(j => crew.Submit(() =>
        {
            order.Enqueue(j);
            leads.Add(Environment.CurrentManagedThreadId);
            crew.Together(i => helpers.Add((j, i, Environment.CurrentManagedThreadId)));
        })).ToArray();
        await Task.WhenAll(jobs).WaitAsync(Bound);
        Assert.Equal(Enumerable.Range(0, 20), order);
        Assert.Single(leads.Distinct());                                    // the same lead thread every time
        Assert.Equal(20 * 3, helpers.Count);                                // every thread once per round
        Assert.All(helpers.GroupBy(h => h.Job), g => Assert.Equal([0, 1, 2], g.Select(h => h.Index).Order()));
        Assert.Equal(3, helpers.Select(h => h.Thread).Distinct().Count()); // three threads in all, kept from job to job
        Assert.All(helpers.Where(h => h.Index == 0), h => Assert.Equal(leads.First(), h.Thread)); // index 0 is the lead itself
    }

    [Fact]
    public async Task A_helper_that_throws_fails_its_job_and_the_crew_goes_on()
    {
        using var crew = new ComputeCrew(2, "test-crew");
        var failed = crew.Submit(() => crew.Together(i => { if (i == 1) throw new InvalidOperationException("boom"); }));
        var e = await Assert.ThrowsAsync<AggregateException>(() => failed.WaitAsync(Bound));
        Assert.Contains("boom", e.InnerException!.Message);
        int ran = 0;
        await crew.Submit(() => crew.Together(_ => Interlocked.Increment(ref ran))).WaitAsync(Bound);
        Assert.Equal(2, ran);
    }

    [Fact]
    public async Task Cancellation_ends_the_job_as_cancelled_and_a_disposed_crew_refuses_work()
    {
        var crew = new ComputeCrew(2, "test-crew");
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        var cancelled = crew.Submit(() => cts.Token.ThrowIfCancellationRequested());
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled.WaitAsync(Bound));
        Assert.True(cancelled.IsCanceled);
        crew.Dispose();
        await Assert.ThrowsAsync<ObjectDisposedException>(() => crew.Submit(() => { }).WaitAsync(Bound));
        Assert.Throws<InvalidOperationException>(() => crew.Together(_ => { })); // only from the lead thread
    }
}
