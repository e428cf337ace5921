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

/// <summary>Collects the error log events of an actor system (oversized payloads, serializer failures …), minus the expected noise of nodes leaving.</summary>
public sealed class ErrorRecorder : ReceiveActor
{
    public ErrorRecorder(ConcurrentQueue<string> into)
    {
        Receive<Error>(e => { if (!QuietLogger.IsShutdownNoise(e)) into.Enqueue($"{e.LogSource}: {e.Message} {e.Cause?.Message}"); });
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
    public static async Task<string> TrainAsync<T>(TrainConfig config, Corpus corpus, int workers, ConcurrentQueue<string> akkaErrors)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        var session = new TrainingSession<T>(config, corpus);
        var kernel = Kernels.Default<T>();
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
            SerializeMessages = true,
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
            Assert.Equal(workers, host.Source.Workers);
            // the tensors took the data channel beside Akka (one connection per worker), with the same bits
            Assert.True(host.Coordinator.Channel!.Received > 0, "results should come over the data channel");
            await host.EndRunAsync(true, "test finished");
            Assert.All(host.LocalWorkers, w => Assert.True(w.IsCompletedSuccessfully && w.Result == WorkerNode.Ok, "a local worker did not exit 0"));
            Assert.Empty(observer.Warnings);
            return result.ParamsSha256;
        }
        finally
        {
            await host.DisposeAsync();
        }
    }
}
