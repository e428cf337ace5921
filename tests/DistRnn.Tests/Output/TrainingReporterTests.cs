using System.Text.Json;
using DistRnn.Coordinator.Output;
using DistRnn.Coordinator.Training;

namespace DistRnn.Tests.Output;

public sealed class LossHistoryTests
{
    [Fact]
    public void A_step_that_goes_back_drops_the_points_at_and_after_it()
    {
        var h = new LossHistory();
        for (int s = 1; s <= 10; s++) h.Add(s, 5.0 - s * 0.1, s % 5 == 0 ? 4.0 : null);
        h.Add(6, 3.0, null); // resumed from the checkpoint of step 5
        Assert.Equal([1L, 2, 3, 4, 5, 6], h.Train.Select(p => p.Step));
        Assert.Equal(3.0, h.Train[^1].Loss);
        Assert.Equal([5L], h.Validation.Select(p => p.Step));
    }

    [Fact]
    public void Non_finite_losses_are_left_out()
    {
        var h = new LossHistory();
        h.Add(1, double.NaN, double.PositiveInfinity);
        h.Add(2, null, 2.0);
        Assert.Empty(h.Train);
        Assert.Single(h.Validation);
    }

    [Fact]
    public void Seeds_from_metrics_jsonl_and_skips_a_torn_last_line()
    {
        var path = Path.Combine(TestUtil.TempDir(), "metrics.jsonl");
        File.WriteAllLines(path,
        [
            """{"step":10,"loss":3.5,"val_loss":null}""",
            """{"step":20,"loss":3.1,"val_loss":3.3}""",
            """{"step":30,"loss":2.9,"val_l""",
        ]);
        var h = LossHistory.FromMetrics(path);
        Assert.Equal([10L, 20], h.Train.Select(p => p.Step));
        Assert.Equal([(20L, 3.3)], h.Validation);
    }
}

/// <summary>What the reporter prints in each mode; it writes to the process-wide Console, hence the collection.</summary>
[Collection("Console")]
public sealed class TrainingReporterTests
{
    private static StepReport Step(long step, double? val = null, bool skipped = false) =>
        new(step, 20, 2.5, val, 12345, 3, 0.002, 1.0, skipped, TimeSpan.FromSeconds(step), TimeSpan.FromSeconds(20 - step));

    private static (string Out, string Err) Capture(Action body)
    {
        var (oldOut, oldErr) = (Console.Out, Console.Error);
        var (o, e) = (new StringWriter(), new StringWriter());
        Console.SetOut(o); Console.SetError(e);
        try { body(); }
        finally { Console.SetOut(oldOut); Console.SetError(oldErr); }
        return (o.ToString(), e.ToString());
    }

    [Fact]
    public void On_a_terminal_one_status_line_is_rewritten_and_measurements_stay()
    {
        var (output, _) = Capture(() =>
        {
            using var r = new TrainingReporter(json: false, logEvery: 100, metricsPath: null, live: true);
            r.OnStep(Step(1));
            Thread.Sleep(150); // the status line is refreshed at most every 100 ms
            r.OnStep(Step(2));
            r.OnStep(Step(10, val: 2.75));
            r.OnWarning("warning: something");
            r.OnCheckpoint("out/ckpt-00000010.bin", 10, isBest: true);
        });
        Assert.Contains("\rstep  1/20  loss 2.5000  12.3k chars/s  workers 3  eta 19s", output);
        Assert.Contains("\rstep  2/20", output);
        // The validation step is a permanent line, after the status line was wiped.
        Assert.Contains("\r" + new string(' ', "step  2/20  loss 2.5000  12.3k chars/s  workers 3  eta 18s".Length) + "\rstep 10/20  loss 2.5000  val 2.7500", output);
        Assert.Contains("checkpoint out/ckpt-00000010.bin (best validation so far, also best.bin)\n", output);
    }

    [Fact]
    public void Redirected_output_is_plain_lines_every_log_every_steps()
    {
        var (output, _) = Capture(() =>
        {
            using var r = new TrainingReporter(json: false, logEvery: 5, metricsPath: null, live: false);
            for (int s = 1; s <= 12; s++) r.OnStep(Step(s, val: s == 7 ? 2.9 : null));
        });
        Assert.DoesNotContain("\r", output);
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(3, lines.Length); // steps 5, 7 (validation), 10
        Assert.StartsWith("step  5/20", lines[0]);
        Assert.Contains("val 2.9000", lines[1]);
        Assert.Contains("val 2.9000 @7", lines[2]); // the last validation loss stays in view
    }

    [Fact]
    public void Json_mode_prints_only_json_events_and_metrics_get_a_line_per_logged_step()
    {
        var dir = TestUtil.TempDir();
        var metrics = Path.Combine(dir, "metrics.jsonl");
        var (output, _) = Capture(() =>
        {
            using var r = new TrainingReporter(json: true, logEvery: 2, metricsPath: metrics, live: true); // --json wins over a terminal
            for (int s = 1; s <= 4; s++) r.OnStep(Step(s, val: s == 4 ? 2.0 : null));
            r.Done(new TrainResult(4, 2.5, 2.0, new string('a', 64), false, null));
        });
        var events = output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal(["step", "step", "step", "step", "done"], events.Select(e => e.GetProperty("event").GetString()));
        Assert.Equal(3, events[0].GetProperty("workers").GetInt32());
        Assert.Equal(2.0, events[3].GetProperty("val_loss").GetDouble());

        var lines = File.ReadAllLines(metrics).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal([2L, 4], lines.Select(e => e.GetProperty("step").GetInt64()));
        foreach (var key in new[] { "loss", "val_loss", "chars_per_s", "workers", "lr", "time" }) Assert.True(lines[0].TryGetProperty(key, out _), key);
        Assert.Equal(JsonValueKind.Null, lines[0].GetProperty("val_loss").ValueKind);
    }
}

public sealed class MetricsReadingTests
{
    [Fact]
    public void Lines_whose_fields_have_the_wrong_type_are_skipped()
    {
        var path = Path.Combine(TestUtil.TempDir(), "metrics.jsonl");
        File.WriteAllLines(path,
        [
            """{"step":10,"loss":3.5,"val_loss":null}""",
            """{"step":"x","loss":3.4}""",
            """[1,2]""",
            """7""",
            """{"step":15.5,"loss":3.3}""",
            """{"step":20,"loss":"low","val_loss":3.3}""",
            """{"step":30,"loss":2.9}""",
        ]);
        var h = LossHistory.FromMetrics(path);
        Assert.Equal([10L, 30], h.Train.Select(p => p.Step));
        Assert.Equal([(20L, 3.3)], h.Validation);
    }
}
