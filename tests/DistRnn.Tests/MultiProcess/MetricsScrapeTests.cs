using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;

namespace DistRnn.Tests.MultiProcess;

/// <summary>
/// `--metrics` as Prometheus sees it: a coordinator process and a worker process on loopback, each serving
/// /metrics; scraped with an HTTP client while they train, the names are exactly those docs/metrics.md lists for
/// the role (no more, no fewer) and the counters move. Every wait is bounded.
/// </summary>
[Collection("MultiProcess")]
public sealed partial class MetricsScrapeTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);

    [Fact]
    public void Coordinator_and_worker_serve_the_documented_names_and_their_counters_move()
    {
        using var c = new ProcessCluster();
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        c.Explain(() =>
        {
            // three different ports (the OS may hand out a port it just gave back)
            var taken = new HashSet<int> { c.Port };
            int Fresh() { while (true) if (ProcessCluster.FreePort() is var p && taken.Add(p)) return p; }
            string coordinatorUrl = $"http://127.0.0.1:{Fresh()}/metrics";
            string workerUrl = $"http://127.0.0.1:{Fresh()}/metrics";
            string[] train =
            [
                "train", .. ProcessCluster.Model, "--steps", "1000000", "--workers", "0", "--listen", c.Listen, "--min-workers", "1",
                "--wait-timeout", "90", "--out", c.RunDir, "--json", "--eval-every", "2", "--checkpoint-every", "3",
                "--metrics", new Uri(coordinatorUrl).Authority,
            ];
            // the worker first: its metrics port is bound before the coordinator's data channel takes any free port
            var worker = c.Worker(extra: ["--metrics", new Uri(workerUrl).Authority]);
            var coordinator = c.Program("coordinator", Executables.Coordinator, train);

            // a validation, a checkpoint and tensors both ways have happened on both sides (each is awaited: a step's
            // counter is served a moment before its checkpoint's, and the worker's registration before or after its first job)
            var (c1, w1) = (Until(http, coordinator, coordinatorUrl, s => s.Value("distrnn_steps_total") >= 3 && s.Has("distrnn_validation_loss")
                                && s.Value("distrnn_data_received_bytes_total") > 0 && s.Value("distrnn_checkpoints_total") >= 1 && s.Value("distrnn_workers") == 1),
                            Until(http, worker, workerUrl, s => s.Value("distrnn_worker_subtrees_total") > 0 && s.Has("distrnn_worker_step") && s.Value("distrnn_worker_registered") == 1));
            // the counters move between two scrapes
            var c2 = Until(http, coordinator, coordinatorUrl, s => s.Value("distrnn_steps_total") > c1.Value("distrnn_steps_total")
                && s.Value("distrnn_data_sent_bytes_total") > c1.Value("distrnn_data_sent_bytes_total")
                && s.Value("distrnn_step") > c1.Value("distrnn_step") && s.Value("distrnn_step_duration_seconds_count") >= 2);
            var w2 = Until(http, worker, workerUrl, s => s.Value("distrnn_worker_jobs_total{outcome=\"done\"}") > w1.Value("distrnn_worker_jobs_total{outcome=\"done\"}")
                && s.Value("distrnn_data_received_bytes_total") > w1.Value("distrnn_data_received_bytes_total"));

            var (documentedCoordinator, documentedWorker) = Documented();
            Assert.Equal(documentedCoordinator, c2.Names);
            Assert.Equal(documentedWorker, w2.Names);

            // a failure shows too: the worker stops (SIGTERM), the coordinator counts it gone (left or lost: whichever it heard first)
            worker.Terminate();
            Until(http, coordinator, coordinatorUrl, s => s.Value("distrnn_workers") == 0
                && s.Value("distrnn_workers_lost_total{how=\"left\"}") + s.Value("distrnn_workers_lost_total{how=\"lost\"}") >= 1);
            coordinator.Terminate();
            coordinator.WaitForExit(TimeSpan.FromSeconds(60));
        });
    }

    /// <summary>Scrapes <paramref name="node"/> until <paramref name="ready"/> holds (a node still starting answers nothing: tried again).</summary>
    private static Scrape Until(HttpClient http, NodeProcess node, string url, Func<Scrape, bool> ready)
    {
        var clock = Stopwatch.StartNew();
        Scrape? last = null;
        string? error = null;
        while (clock.Elapsed < Patience)
        {
            if (node.HasExited) throw new InvalidOperationException($"{node.Name} ended (exit {node.ExitCode}) while {url} was awaited");
            try
            {
                last = Scrape.Parse(http.GetStringAsync(url).GetAwaiter().GetResult());
                if (ready(last)) return last;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException) { error = e.Message; }
            Thread.Sleep(250);
        }
        throw new TimeoutException($"{url}: not as expected within {Patience.TotalSeconds:F0} s (last error: {error ?? "none"})\n{last?.Text}");
    }

    /// <summary>The names of docs/metrics.md's two tables: the coordinator's section, then the worker's.</summary>
    private static (SortedSet<string> Coordinator, SortedSet<string> Worker) Documented()
    {
        var doc = File.ReadAllText(Path.Combine(Executables.RepoRoot, "docs", "metrics.md"));
        int worker = doc.IndexOf("### Worker", StringComparison.Ordinal);
        Assert.True(worker > 0, "docs/metrics.md has a ### Worker section");
        SortedSet<string> Names(string text) => new(TableName().Matches(text).Select(m => m.Groups[1].Value), StringComparer.Ordinal);
        return (Names(doc[..worker]), Names(doc[worker..]));
    }

    [GeneratedRegex(@"^\| `(distrnn_[a-z_]+)` \|", RegexOptions.Multiline)]
    private static partial Regex TableName();

    /// <summary>One scrape: each series (name with its labels, as written) and its value; the metric names from the # TYPE lines.</summary>
    private sealed class Scrape
    {
        private readonly Dictionary<string, double> _series = new(StringComparer.Ordinal);

        public required string Text { get; init; }
        public SortedSet<string> Names { get; } = new(StringComparer.Ordinal);

        public static Scrape Parse(string text)
        {
            var s = new Scrape { Text = text };
            foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                if (line.StartsWith("# TYPE distrnn_", StringComparison.Ordinal)) s.Names.Add(line.Split(' ')[2]);
                if (line.StartsWith('#')) continue;
                int space = line.LastIndexOf(' ');
                // the exporter writes NAME{} for a series without labels
                string series = line[..space].Replace("{}", "");
                if (double.TryParse(line[(space + 1)..], NumberStyles.Float, CultureInfo.InvariantCulture, out var v)) s._series[series] = v;
            }
            return s;
        }

        public bool Has(string series) => _series.ContainsKey(series);

        /// <summary>The series' value; 0 when it is not there (yet).</summary>
        public double Value(string series) => _series.GetValueOrDefault(series);
    }
}
