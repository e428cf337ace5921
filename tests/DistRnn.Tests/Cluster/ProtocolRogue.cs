using System.Text.Json;
using Akka.Actor;
using DistRnn.Configuration;
using DistRnn.Data;
using DistRnn.Protocol;
using DistRnn.Transport;

namespace DistRnn.Tests.Cluster;

/// <summary>
/// A node that speaks the protocol like a worker — joins, registers with a valid fingerprint (no secret) — and then
/// answers every job with what <c>forge</c> makes of it: the rogue of the result-checking tests. Its refusal
/// (an exclusion, typically) completes <see cref="Refused"/>.
/// </summary>
internal sealed class ProtocolRogue : IAsyncDisposable
{
    private readonly ActorSystem _system;

    private ProtocolRogue(ActorSystem system, TaskCompletionSource<string> refused) { _system = system; Refused = refused.Task; }

    public Task<string> Refused { get; }

    /// <summary>Starts a rogue named <paramref name="name"/> in its own actor system, joined to the coordinator at <paramref name="coordinator"/>.</summary>
    public static ProtocolRogue Start(Address coordinator, string name, Corpus corpus, Func<ComputeSubtrees, IEnumerable<SubtreeResult>> forge)
    {
        var system = ActorSystem.Create(AkkaConfig.SystemName, AkkaConfig.Node(AkkaConfig.WorkerRole, "127.0.0.1", 0, verbose: false));
        Akka.Cluster.Cluster.Get(system).Join(coordinator);
        var refused = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var target = system.ActorSelection(new RootActorPath(coordinator) / "user" / AkkaConfig.CoordinatorActorName);
        system.ActorOf(Props.Create(() => new Speaker(target, name, corpus, forge, refused)), "rogue");
        return new ProtocolRogue(system, refused);
    }

    public async ValueTask DisposeAsync() => await _system.Terminate().WaitAsync(TimeSpan.FromSeconds(20));

    private sealed class Speaker : ReceiveActor, IWithTimers
    {
        public ITimerScheduler Timers { get; set; } = null!;

        public Speaker(ActorSelection coordinator, string name, Corpus corpus, Func<ComputeSubtrees, IEnumerable<SubtreeResult>> forge, TaskCompletionSource<string> refused)
        {
            Timers.StartPeriodicTimer("join", "join", TimeSpan.Zero, TimeSpan.FromMilliseconds(500));
            Receive<string>(_ => coordinator.Tell(new JoinRequest(ProtocolInfo.Version, name, 1), Self));
            Receive<RunSpec>(spec =>
            {
                var fp = JsonSerializer.Deserialize<TrainConfig>(spec.ConfigJson, TrainConfig.Json)!.Fingerprint();
                Sender.Tell(new Register(ProtocolInfo.Version, spec.RunId, name, corpus.Sha256, fp, corpus.Vocabulary.Size, 1));
            });
            Receive<Registered>(_ => Timers.Cancel("join"));
            Receive<ComputeSubtrees>(job => { foreach (var r in forge(job)) Sender.Tell(r); });
            Receive<Refused>(r => { Timers.Cancel("join"); refused.TrySetResult(r.Reason); });
        }
    }
}
