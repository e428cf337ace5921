using System.Diagnostics;
using System.Diagnostics.Metrics;
using DistRnn.Diagnostics;
using DistRnn.Protocol;
using DistRnn.Worker.Compute;

namespace DistRnn.Worker.Metrics;

/// <summary>
/// A worker node's numbers for `distrnn-worker --metrics HOST:PORT` (docs/metrics.md): its jobs, measured around the
/// compute engine (<see cref="Measure"/>), its registration (<see cref="Registered"/>, from the node's events) and its
/// data channel (<see cref="Traffic"/>), served by a <see cref="MetricsEndpoint"/>.
/// </summary>
public sealed class WorkerMetrics : IDisposable
{
    public const string MeterName = "DistRnn.Worker";

    private readonly Meter _meter = new(MeterName);
    private readonly MetricsEndpoint _endpoint;
    private readonly Counter<long> _jobs, _subtrees, _registrations;
    private readonly Histogram<double> _jobSeconds;
    private readonly Gauge<long> _step;
    private int _registered;

    private WorkerMetrics(string endpoint)
    {
        _jobs = _meter.CreateCounter<long>("distrnn_worker_jobs_total", null, "Jobs (one step's share of subtrees) ended, by outcome: done, cancelled (superseded or handed back) or failed");
        _subtrees = _meter.CreateCounter<long>("distrnn_worker_subtrees_total", null, "Subtree results computed and sent");
        _registrations = _meter.CreateCounter<long>("distrnn_worker_registrations_total", null, "Times this node registered with a coordinator (more than 1: it reconnected)");
        _jobSeconds = _meter.CreateHistogram<double>("distrnn_worker_job_duration_seconds", "s", "Wall time of a job that was done, from its start to its last result",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = MetricsEndpoint.SecondsBuckets });
        _step = _meter.CreateGauge<long>("distrnn_worker_step", null, "The step of the last job done");
        _meter.CreateObservableGauge("distrnn_worker_registered", () => Volatile.Read(ref _registered), null, "1 while registered with a coordinator, else 0");
        Traffic.Publish(_meter);
        try { _endpoint = MetricsEndpoint.Start(endpoint, MeterName, "distrnn-worker"); }
        catch { _meter.Dispose(); throw; }
        // a counter is served from its first measurement: 0 from the start (see CoordinatorMetrics)
        _subtrees.Add(0);
        _registrations.Add(0);
        foreach (var outcome in new[] { "done", "cancelled", "failed" }) _jobs.Add(0, Outcome(outcome));
    }

    /// <summary>Starts serving at <paramref name="endpoint"/> (HOST:PORT); bad input when it cannot listen there.</summary>
    public static WorkerMetrics Serve(string endpoint) => new(endpoint);

    public string Describe() => _endpoint.Describe();

    /// <summary>Bytes of this node's data channel.</summary>
    public TrafficCounter Traffic { get; } = new();

    public void Registered(bool now)
    {
        if (now) _registrations.Add(1);
        Volatile.Write(ref _registered, now ? 1 : 0);
    }

    private static KeyValuePair<string, object?> Outcome(string outcome) => new("outcome", outcome);

    /// <summary>The compute engine with every job measured.</summary>
    public IWorkerCompute Measure(IWorkerCompute compute) => new Measured(this, compute);

    private sealed class Measured(WorkerMetrics metrics, IWorkerCompute inner) : IWorkerCompute
    {
        public async Task RunAsync(ComputeSubtrees job, Action<SubtreeResult> emit, CancellationToken ct)
        {
            var clock = Stopwatch.StartNew();
            string outcome = "failed";
            try
            {
                await inner.RunAsync(job, r => { emit(r); metrics._subtrees.Add(1); }, ct).ConfigureAwait(false);
                if (ct.IsCancellationRequested) { outcome = "cancelled"; return; } // it may stop early without throwing
                outcome = "done";
                metrics._jobSeconds.Record(clock.Elapsed.TotalSeconds);
                metrics._step.Record(job.Step);
            }
            catch (OperationCanceledException)
            {
                outcome = "cancelled";
                throw;
            }
            finally { metrics._jobs.Add(1, Outcome(outcome)); }
        }

        public void Dispose() => inner.Dispose();
    }

    public void Dispose()
    {
        _endpoint.Dispose();
        _meter.Dispose();
    }
}
