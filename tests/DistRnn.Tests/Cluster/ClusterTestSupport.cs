using System.Collections.Concurrent;
using System.Numerics;
using Akka.Actor;
using Akka.Event;
using DistRnn.Compute;
using DistRnn.Configuration;
using DistRnn.Coordinator.Node;
using DistRnn.Coordinator.Training;
using DistRnn.Data;
using DistRnn.Model;
using DistRnn.Transport;
using DistRnn.Worker.Node;

namespace DistRnn.Tests.Cluster;

/// <summary>Which of Akka's log lines are its own reaction to a busy machine rather than a fault of ours.</summary>
internal static class AkkaLog
{
    /// <summary>
    /// A node seen unreachable (heartbeats late on a loaded machine) or reachable again: Akka's failure detector
    /// at work, which the run survives with the same bits. Never a line about our serializer, an oversized
    /// frame or one of our types.
    /// </summary>
    public static bool IsLoadReaction(string text) =>
        text.Contains("reachab", StringComparison.OrdinalIgnoreCase)
        && !text.Contains("oversized", StringComparison.OrdinalIgnoreCase)
        && !text.Contains("serializ", StringComparison.OrdinalIgnoreCase)
        && !text.Contains("DistRnn", StringComparison.OrdinalIgnoreCase);
}

/// <summary>
/// Collects the error log events of an actor system (oversized payloads, serializer failures, our actors'
/// exceptions …), minus the expected noise of nodes leaving and Akka's reaction to load.
/// </summary>
public sealed class ErrorRecorder : ReceiveActor
{
    public ErrorRecorder(ConcurrentQueue<string> into)
    {
        Receive<Error>(e =>
        {
            var text = $"{e.LogSource}: {e.Message} {e.Cause?.GetType().Name} {e.Cause?.Message}";
            if (!QuietLogger.IsShutdownNoise(e) && !AkkaLog.IsLoadReaction(text)) into.Enqueue(text);
        });
        Receive<Warning>(w =>
        {
            // the transport reports dropped frames as errors; be strict about anything that mentions them
            var text = w.Message?.ToString() ?? "";
            if (text.Contains("oversized", StringComparison.OrdinalIgnoreCase) || text.Contains("serializ", StringComparison.OrdinalIgnoreCase))
                into.Enqueue($"{w.LogSource}: {text}");
        });
    }

    /// <summary>Starts a recorder in <paramref name="system"/> (from outside any actor: it is a top-level one).</summary>
    public static void Attach(ActorSystem system, ConcurrentQueue<string> into) => ErrorRecording.Attach(system, into);
}

/// <summary>Outside the actor class, so that creating the recorder with <c>ActorSystem.ActorOf</c> is what it looks like (AK1008).</summary>
internal static class ErrorRecording
{
    public static void Attach(ActorSystem system, ConcurrentQueue<string> into)
    {
        var recorder = system.ActorOf(Props.Create(() => new ErrorRecorder(into)));
        system.EventStream.Subscribe(recorder, typeof(Error));
        system.EventStream.Subscribe(recorder, typeof(Warning));
    }
}

internal sealed class NullObserver : ITrainingObserver
{
    public readonly ConcurrentQueue<string> Warnings = new();
    public void OnStep(StepReport report) { }
    public void OnCheckpoint(string path, long step, bool isBest) { }
    public void OnWarning(string message) => Warnings.Enqueue(message);
}

/// <summary>Short training runs through the single-process loop or a local cluster of N worker nodes (each its own actor system on 127.0.0.1).</summary>
internal static class ClusterTraining
{
    /// <summary>
    /// The number of registered workers once it is <paramref name="expected"/>, or what it is after <paramref name="limit"/>:
    /// membership settles by itself (a dead node is dropped, a node seen unreachable on a busy machine comes back),
    /// but not at a moment a test can name.
    /// </summary>
    public static async Task<int> WorkersSettleAt(Func<int> workers, int expected, TimeSpan limit)
    {
        for (var waited = System.Diagnostics.Stopwatch.StartNew(); workers() != expected && waited.Elapsed < limit;)
            await Task.Delay(100);
        return workers();
    }

    public static async Task<string> TrainAsync<T>(TrainConfig config, Corpus corpus, int workers, ConcurrentQueue<string> akkaErrors)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        var session = new TrainingSession<T>(config, corpus);
        var kernel = Kernels.For<T>(session.Params.Shape, config.Dropout);
        var options = new TrainOptions { OutDir = TestUtil.TempDir(), CheckpointEvery = 1000, ValWindows = 4, Parallelism = 2 };
        var observer = new NullObserver();
        if (workers == 0)
        {
            using var computer = new SubtreeComputer<T>(kernel, 2);
            var local = new LocalGradientSource<T>(computer, session.Activation, corpus.Tokens, session.ShardCount);
            return (await new Trainer<T>(session, local, kernel, options, observer).RunAsync(timeout.Token)).ParamsSha256;
        }
        var host = ClusterHost<T>.Start(CoordinatorSettings.For(config, corpus) with { Warn = observer.OnWarning }, corpus, new ClusterHostOptions
        {
            LocalWorkers = workers,
            ThreadsPerWorker = 1,
           
            OnSystem = s => ErrorRecorder.Attach(s, akkaErrors),
        });
        try
        {
            await host.WaitForWorkersAsync(workers, TimeSpan.FromSeconds(60), _ => { }, timeout.Token);
            // each worker opens its data channel just after registering: wait for them (bounded) so the run uses them
            for (var waited = System.Diagnostics.Stopwatch.StartNew(); host.Coordinator.Channel!.Accepted < workers && waited.Elapsed < TimeSpan.FromSeconds(20);)
                await Task.Delay(20, timeout.Token);
            Assert.Equal(workers, host.Coordinator.Channel!.Accepted);
            var result = await new Trainer<T>(session, host.Source, kernel, options, observer).RunAsync(timeout.Token);
            Assert.False(result.Interrupted);
            // the tensors took the data channel beside Akka (one connection per worker), with the same bits
            Assert.True(host.Coordinator.Channel!.Received > 0, "results should come over the data channel");
            await host.EndRunAsync(true, "test finished");
            Assert.All(host.LocalWorkers, w => Assert.True(w.IsCompletedSuccessfully && w.Result == WorkerNode.Ok, "a local worker did not exit 0"));
            // a worker seen unreachable on a busy machine is Akka at work (its shards move, the bits stay);
            // a result refused or ignored is a fault of ours
            Assert.DoesNotContain(observer.Warnings, w => w.Contains("refused") || w.Contains("ignored a result"));
            return result.ParamsSha256;
        }
        finally
        {
            await host.DisposeAsync();
        }
    }
}
