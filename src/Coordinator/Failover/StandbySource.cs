using System.Numerics;
using Akka.Actor;
using DistRnn.Coordinator.Training;
using DistRnn.Compute;
using DistRnn.Model;
using DistRnn.Protocol;
using DistRnn.Reduction;

namespace DistRnn.Coordinator.Failover;

/// <summary>
/// A standby coordinator's gradient source: each step's sum is the active coordinator's decision (so this node's loop
/// applies, validates, reports and checkpoints exactly what the active does, to the same bits) until this node holds
/// the run (<see cref="Leadership"/>); from that step on it is <c>takeOver()</c>'s source, the cluster's (given the last
/// decision followed, for the standbys that resume with this node). The step the
/// loop waits for when the active is lost is the first this node computes: no completed step is done again.
/// </summary>
public sealed class StandbySource<T>(IActorRef replica, Task leadership, Func<long, StepDecision?, IGradientSource<T>> takeOver, ModelShape shape)
    : IGradientSource<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private IGradientSource<T>? _active;
    private int _workers;
    /// <summary>The last decision taken from the coordinator followed (handed to the takeover, for standbys that resume here).</summary>
    private StepDecision? _last;

    /// <summary>The workers of the step last applied: the active's count while following it.</summary>
    public int Workers => _active?.Workers ?? _workers;

    /// <summary>Whether this node holds the run now.</summary>
    public bool TookOver => _active is not null;

    public async Task<StepSum<T>> ComputeAsync(long step, Tensors<T> parameters, SequenceRef[] batch, StepCarry<T>? carry, CancellationToken ct)
    {
        if (_active is null)
        {
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
            var next = replica.Ask<StepDecision>(new NextDecision(step), null, stop.Token);
            await Task.WhenAny(next, leadership).ConfigureAwait(false);
            ct.ThrowIfCancellationRequested();
            if (next.IsCompleted)
            {
                var d = await next.ConfigureAwait(false);
                _workers = d.Workers;
                _last = d;
                if (carry is not null)
                {
                    if (d.States is null) throw new ProtocolException($"step {step}: the active coordinator's decision has no carried states (is it a --state reset run?)");
                    d.States.CopyTo(carry.Final);
                }
                return new StepSum<T>(new ShardSum<T>(new Tensors<T>(shape, d.Gradient.ToArray<T>(shape.Count)), d.Loss, d.Chars), null);
            }
            stop.Cancel();
            _active = takeOver(step, _last?.Step == step - 1 ? _last : null);
        }
        return await _active.ComputeAsync(step, parameters, batch, carry, ct).ConfigureAwait(false);
    }
}
