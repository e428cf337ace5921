using DistRnn.Coordinator.Scheduling;
using DistRnn.Reduction;

namespace DistRnn.Tests.Cluster;

/// <summary>Backup tasks for stragglers, without actors: which pieces go to whom, and when.</summary>
public sealed class BackupTaskTests
{
    private static string Plus(string l, string r) => $"({l}+{r})";
    private static Subtree N(int level, int index) => new(level, index);

    [Fact]
    public void The_straggler_s_missing_piece_is_split_among_the_idle_workers_and_the_first_copy_wins()
    {
        var s = new StepState<string, string>(3, Subtree.Root(8), Plus);
        s.Start(["A", "B", "C", "D"]);                       // two shards each: L1#0 … L1#3
        s.Offer(3, N(1, 0), "a");
        s.Offer(3, N(1, 1), "b");
        s.Offer(3, N(1, 3), "d");
        Assert.Equal(new[] { "A", "B", "D" }, s.Idle());

        var backups = s.Backups();
        Assert.Equal(new[] { N(0, 4), N(0, 5) }, backups.SelectMany(b => b.Nodes).OrderBy(n => n.First));
        Assert.All(backups, b => Assert.NotEqual("C", b.Worker));
        Assert.Empty(s.Backups());                           // held twice now: not handed out a third time

        foreach (var b in backups) Assert.Equal(ResultVerdict.Accepted, s.Offer(3, b.Nodes.Single(), $"{b.Worker}{b.Nodes.Single().First}"));
        Assert.True(s.IsComplete);
        Assert.Equal(ResultVerdict.Duplicate, s.Offer(3, N(1, 2), "c, late"));
        Assert.Equal("((a+b)+((" + backups.Single(b => b.Nodes[0].First == 4).Worker + "4+" + backups.Single(b => b.Nodes[0].First == 5).Worker + "5)+d))", s.Result);
    }

    [Fact]
    public void No_backups_while_every_worker_is_busy_or_once_the_step_is_complete()
    {
        var s = new StepState<string, string>(3, Subtree.Root(4), Plus);
        s.Start(["A", "B"]);
        Assert.Empty(s.Idle());
        Assert.Empty(s.Backups());
        s.Offer(3, N(1, 0), "a");
        s.Offer(3, N(1, 1), "b");
        Assert.Empty(s.Backups());
    }

    [Fact]
    public void A_lost_straggler_whose_piece_has_a_backup_moves_nothing()
    {
        var s = new StepState<string, string>(3, Subtree.Root(4), Plus);
        s.Start(["A", "B"]);
        s.Offer(3, N(1, 0), "a");
        var backup = s.Backups().Single();
        Assert.Equal("A", backup.Worker);
        Assert.Empty(s.WorkerLost("B"));
        s.Offer(3, N(1, 1), "b by A");
        Assert.Equal("(a+b by A)", s.Result);
    }

    [Fact]
    public void Policy_waits_for_half_the_workers_then_for_a_multiple_of_their_median()
    {
        var p = new BackupPolicy(2.0, TimeSpan.FromMilliseconds(20));
        var ms = (double v) => TimeSpan.FromMilliseconds(v);
        Assert.Null(p.BackupAt([], 3));
        Assert.Null(p.BackupAt([ms(100)], 3));               // one of three: too early to call anyone slow
        Assert.Equal(ms(200), p.BackupAt([ms(100), ms(120)], 3));
        Assert.Equal(ms(200), p.BackupAt([ms(100)], 2));
        Assert.Equal(ms(20), p.BackupAt([ms(1), ms(2)], 3)); // never sooner than the minimum wait
        Assert.Null(BackupPolicy.Off.BackupAt([ms(100), ms(100)], 3));
    }
}
