using System.Numerics;
using DistRnn.Compute;
using DistRnn.Configuration;
using DistRnn.Data;
using DistRnn.Model;
using DistRnn.Reduction;

namespace DistRnn.Coordinator.Verification;

/// <summary>
/// Recomputes one subtree of a step on the coordinator, with the same batch plan, kernel and tree order as
/// every worker, so the result has the bits an honest worker would send. Used only when a worker's result
/// holds NaN or ±∞: a far too large learning rate makes every honest worker send those (and the step must
/// then be skipped, not its workers excluded), while a rogue worker sends them on purpose. The recomputation
/// tells the two apart, and its own result is what the model gets either way.
/// </summary>
public sealed class SubtreeVerifier<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly TrainConfig _config;
    private readonly int[] _tokens;
    private readonly BatchPlan _plan;
    private readonly Activation _act;
    private readonly int _threads;

    public SubtreeVerifier(TrainConfig config, Corpus corpus, int threads)
    {
        _config = config;
        _tokens = corpus.Tokens;
        _plan = BatchPlan.For(config, corpus);
        _act = config.ActivationKind;
        _threads = Math.Max(1, threads);
    }

    /// <summary>
    /// The sum over <paramref name="node"/>'s shards of step <paramref name="step"/> with <paramref name="parameters"/>,
    /// on a compute engine of its own for this recomputation alone: it is rare (a non-finite result only), so no
    /// threads are held between recomputations and the verifier needs no disposal.
    /// </summary>
    public ShardSum<T> Recompute(long step, Subtree node, Tensors<T> parameters)
    {
        using var computer = new SubtreeComputer<T>(Kernels.Default<T>(), _threads, "distrnn-verify");
        return computer.ComputeAsync(step, parameters, _act, _tokens, _plan.ForStep(step), _config.ShardCount, node).GetAwaiter().GetResult();
    }

    /// <summary>True when a sum holds NaN or ±∞ anywhere (gradient or loss).</summary>
    public static bool IsNonFinite(ShardSum<T> sum) => !double.IsFinite(sum.Loss) || !sum.Grad.AllFinite();
}
