using System.Diagnostics.Metrics;
using DistRnn.Coordinator.Training;
using DistRnn.Diagnostics;

namespace DistRnn.Coordinator.Metrics;

/// <summary>
/// The coordinator's numbers for `train --metrics HOST:PORT` (docs/metrics.md): fed by the training loop's reports
/// (<see cref="Observing"/>), the coordinator actor's roster (<see cref="WorkerGone"/>), the step actor's refusals
/// (<see cref="ResultRefused"/>) and the data channel (<see cref="Traffic"/>), and served by a
/// <see cref="MetricsEndpoint"/>. Each instrument is named as Prometheus shows it (see there).
/// </summary>
public sealed class CoordinatorMetrics : IDisposable
{
    public const string MeterName = "DistRnn.Coordinator";

    private readonly Meter _meter = new(MeterName);
    private readonly MetricsEndpoint _endpoint;
    private readonly Counter<long> _steps, _skipped, _checkpoints, _workersLost, _refused;
    private readonly Gauge<long> _step;
    private readonly Gauge<double> _loss, _valLoss, _charsPerSecond;
    private readonly Histogram<double> _stepSeconds;
    private Func<int>? _liveWorkers;
    private int _reportedWorkers;
    private TimeSpan _lastElapsed;

    private CoordinatorMetrics(string endpoint)
    {
        _steps = _meter.CreateCounter<long>("distrnn_steps_total", null, "Optimiser steps completed by this process (skipped ones included)");
        _skipped = _meter.CreateCounter<long>("distrnn_steps_skipped_total", null, "Steps skipped because the gradient had NaN or infinite values");
        _checkpoints = _meter.CreateCounter<long>("distrnn_checkpoints_total", null, "Checkpoints written");
        _workersLost = _meter.CreateCounter<long>("distrnn_workers_lost_total", null, "Workers that stopped taking part during the run (how: left = said so, lost = unreachable, removed, stopped or excluded)");
        _refused = _meter.CreateCounter<long>("distrnn_results_refused_total", null, "Results refused (malformed or forged), each excluding its worker");
        _step = _meter.CreateGauge<long>("distrnn_step", null, "The last step completed (counting steps before a resume)");
        _loss = _meter.CreateGauge<double>("distrnn_loss", null, "Training loss of the last step, nats per character");
        _valLoss = _meter.CreateGauge<double>("distrnn_validation_loss", null, "The last validation loss measured, nats per character");
        _charsPerSecond = _meter.CreateGauge<double>("distrnn_chars_per_second", null, "Training characters per second since this process started training");
        _stepSeconds = _meter.CreateHistogram<double>("distrnn_step_duration_seconds", "s", "Wall time from one step's report to the next (a validation or checkpoint in between included)",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = MetricsEndpoint.SecondsBuckets });
        _meter.CreateObservableGauge("distrnn_workers", () => _liveWorkers?.Invoke() ?? Volatile.Read(ref _reportedWorkers), null, "Workers taking part now");
        Traffic.Publish(_meter);
        try { _endpoint = MetricsEndpoint.Start(endpoint, MeterName, "distrnn"); }
        catch { _meter.Dispose(); throw; }
        // a counter is served from its first measurement (once the endpoint listens): 0 from the start, so that a
        // rate() or an alert sees it before anything happened
        foreach (var c in new[] { _steps, _skipped, _checkpoints, _refused }) c.Add(0);
        _workersLost.Add(0, How(graceful: true));
        _workersLost.Add(0, How(graceful: false));
    }

    /// <summary>Starts serving at <paramref name="endpoint"/> (HOST:PORT); bad input when it cannot listen there.</summary>
    public static CoordinatorMetrics Serve(string endpoint) => new(endpoint);

    public string Describe() => _endpoint.Describe();

    /// <summary>Bytes of the coordinator's data channel.</summary>
    public TrafficCounter Traffic { get; } = new();

    /// <summary>The cluster's live worker count (else the count of the last step's report: the single-process loop's 0).</summary>
    public void WatchWorkers(Func<int> workers) => _liveWorkers = workers;

    /// <summary>The training loop's observer: <paramref name="inner"/> (the reporter) plus these numbers.</summary>
    public ITrainingObserver Observing(ITrainingObserver inner) => new Tee(this, inner);

    /// <param name="graceful">it said it leaves (Ctrl+C on the worker) rather than being lost</param>
    public void WorkerGone(bool graceful) => _workersLost.Add(1, How(graceful));

    private static KeyValuePair<string, object?> How(bool graceful) => new("how", graceful ? "left" : "lost");

    public void ResultRefused() => _refused.Add(1);

    private void OnStep(StepReport r)
    {
        _steps.Add(1);
        _step.Record(r.Step);
        if (r.Skipped) _skipped.Add(1);
        else _loss.Record(r.Loss);
        if (r.ValLoss is double v) _valLoss.Record(v);
        _charsPerSecond.Record(r.CharsPerSecond);
        Volatile.Write(ref _reportedWorkers, r.Workers);
        _stepSeconds.Record((r.Elapsed - _lastElapsed).TotalSeconds); // the first from the loop's start
        _lastElapsed = r.Elapsed;
    }

    public void Dispose()
    {
        _endpoint.Dispose();
        _meter.Dispose();
    }

    private sealed class Tee(CoordinatorMetrics metrics, ITrainingObserver inner) : ITrainingObserver
    {
        public void OnStep(StepReport report)
        {
            metrics.OnStep(report);
            inner.OnStep(report);
        }

        public void OnCheckpoint(string path, long step, bool isBest)
        {
            metrics._checkpoints.Add(1);
            inner.OnCheckpoint(path, step, isBest);
        }

        public void OnWarning(string message) => inner.OnWarning(message);
    }
}
