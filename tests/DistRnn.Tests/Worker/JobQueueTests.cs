using DistRnn.Worker.Node;

namespace DistRnn.Tests.Worker;

/// <summary>The worker's job order as plain logic: jobs are (step, name).</summary>
public sealed class JobQueueTests
{
    private static JobQueue<(long Step, string Name)> New() => new(j => j.Step);

    [Fact]
    public void Jobs_of_a_step_run_one_after_another_in_arrival_order()
    {
        var q = New();
        Assert.True(q.Offer((1, "a")).Accepted);
        Assert.True(q.Offer((1, "b")).Accepted);
        Assert.True(q.TryNext(out var first));
        Assert.Equal("a", first.Name);
        Assert.False(q.TryNext(out _)); // one at a time
        q.Done();
        Assert.True(q.TryNext(out var second));
        Assert.Equal("b", second.Name);
        q.Done();
        Assert.False(q.TryNext(out _));
    }

    [Fact]
    public void A_newer_step_drops_what_waits_and_cancels_what_runs()
    {
        var q = New();
        q.Offer((1, "a"));
        q.Offer((1, "b"));
        q.TryNext(out _);                     // a runs
        var offer = q.Offer((2, "c"));
        Assert.True(offer.Accepted);
        Assert.True(offer.CancelRunning);
        Assert.Equal([(1L, "b")], offer.Dropped);
        q.Done();
        Assert.True(q.TryNext(out var next));
        Assert.Equal("c", next.Name);
    }

    [Fact]
    public void A_job_of_an_older_step_is_refused_and_an_idle_newer_step_cancels_nothing()
    {
        var q = New();
        var first = q.Offer((5, "x"));
        Assert.False(first.CancelRunning);
        Assert.False(q.Offer((4, "old")).Accepted);
        Assert.True(q.TryNext(out var j));
        Assert.Equal("x", j.Name);
    }
}
