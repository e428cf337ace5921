using Akka.Actor;
using Akka.Cluster.Tools.Singleton;
using DistRnn.Transport;

namespace DistRnn.Coordinator.Failover;

/// <summary>
/// Which coordinator runs the run: Akka's cluster singleton (<see cref="ClusterSingletonManager"/> on every node with the
/// coordinator role) decides — the oldest such member holds it, and when that member is downed or leaves, the next
/// oldest takes it over. The singleton itself only tells its process that it holds the run now; the process then acts
/// (a standby stops following the active's stream and starts coordinating the workers).
/// </summary>
public static class Leadership
{
    public const string ManagerName = "run-singleton", SingletonName = "run";

    /// <returns>a task that completes when this node holds the singleton (never, while another coordinator is older)</returns>
    public static Task Start(ActorSystem system)
    {
        var held = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        system.Settings.InjectTopLevelFallback(ClusterSingleton.DefaultConfig());
        var settings = ClusterSingletonManagerSettings.Create(system).WithRole(AkkaConfig.CoordinatorRole).WithSingletonName(SingletonName);
        system.ActorOf(ClusterSingletonManager.Props(Props.Create(() => new RunHolder(held)), PoisonPill.Instance, settings), ManagerName);
        return held.Task;
    }

    /// <summary>The singleton: its start on this node is the news.</summary>
    private sealed class RunHolder(TaskCompletionSource held) : UntypedActor
    {
        protected override void PreStart() => held.TrySetResult();
        protected override void OnReceive(object message) => Unhandled(message);
    }
}
