using DistRnn.Data;

namespace DistRnn.Tests.Data;

/// <summary>The --state carry stream plan (README "Carried states"), as pure logic.</summary>
public sealed class StreamPlanTests
{
    [Theory]
    [InlineData(1000, 10, 8, 3L)]
    [InlineData(1000, 10, 7, 9L)]
    [InlineData(65, 64, 4, 1L)]      // one window only: every stream reads it
    [InlineData(12345, 64, 32, 1L)]
    public void Offsets_are_spread_evenly_from_a_seeded_start(int n, int seq, int streams, long seed)
    {
        var plan = new StreamPlan(seed, n, seq, streams);
        int w = (n - 1) / seq;
        Assert.Equal(w, plan.Windows);
        int r = plan.OffsetOf(0);
        Assert.InRange(r, 0, w - 1);
        for (int j = 0; j < streams; j++)
            Assert.Equal((r + (long)j * w / streams) % w, plan.OffsetOf(j));
        // the same (seed, text, seq, streams) always gives the same plan
        var again = new StreamPlan(seed, n, seq, streams);
        Assert.Equal(Enumerable.Range(0, streams).Select(plan.OffsetOf), Enumerable.Range(0, streams).Select(again.OffsetOf));
    }

    [Fact]
    public void The_seed_moves_the_start()
    {
        var starts = Enumerable.Range(1, 20).Select(s => new StreamPlan(s, 100_000, 64, 8).OffsetOf(0)).Distinct().Count();
        Assert.True(starts > 10, $"only {starts} distinct starts for 20 seeds");
    }

    [Fact]
    public void Each_stream_reads_consecutive_whole_windows_and_wraps_to_the_start_with_a_fresh_state()
    {
        const int n = 500, seq = 16, streams = 5;
        var plan = new StreamPlan(7, n, seq, streams);
        int w = plan.Windows;
        for (long step = 1; step <= 3 * w; step++)
        {
            var seqs = plan.ForStep(step);
            Assert.Equal(streams, seqs.Length);
            for (int j = 0; j < streams; j++)
            {
                int window = plan.WindowAt(j, step);
                Assert.Equal((plan.OffsetOf(j) + step - 1) % w, window);
                Assert.Equal(window * seq, seqs[j].Start);
                Assert.Equal(seq, seqs[j].Length);
                Assert.True(seqs[j].Start + seqs[j].Length <= n - 1, "a window's last target lies outside the training text");
                // fresh at step 1 and exactly when the stream has wrapped to the start of the text
                Assert.Equal(step == 1 || window == 0, plan.StartsFresh(j, step));
                if (step > 1 && window != 0) Assert.Equal(plan.ForStep(step - 1)[j].Start + seq, seqs[j].Start);
            }
        }
    }

    [Fact]
    public void Initial_states_are_the_previous_final_states_or_zero_where_fresh()
    {
        const int size = 3, streams = 4;
        var plan = new StreamPlan(2, 200, 10, streams);   // W = 19
        var previous = Enumerable.Range(1, streams * size).Select(i => (float)i).ToArray();
        for (long step = 1; step <= 40; step++)
        {
            var initial = Enumerable.Repeat(-9f, streams * size).ToArray();
            plan.InitialStates<float>(step, previous, initial, size);
            for (int j = 0; j < streams; j++)
            {
                var row = initial.AsSpan(j * size, size).ToArray();
                var expected = plan.StartsFresh(j, step) ? new float[size] : previous.AsSpan(j * size, size).ToArray();
                Assert.Equal(expected, row);
            }
        }
        Assert.Contains(Enumerable.Range(2, 39), s => Enumerable.Range(0, streams).Any(j => plan.StartsFresh(j, s)));   // a wrap happened
    }

    [Fact]
    public void A_text_shorter_than_one_window_is_bad_input()
    {
        var e = Assert.Throws<InputException>(() => new StreamPlan(1, 10, 10, 2));
        Assert.Contains("--seq 10", e.Message);
    }
}
