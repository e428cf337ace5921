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
/// is suspect — it holds NaN or ±∞, or values so large that the step's sum could overflow: a far too large learning
/// rate makes every honest worker send those (and the step must then be skipped, not its workers excluded), while a
/// rogue worker sends them on purpose. The recomputation tells the two apart (<see cref="RecomputeVerdict"/>), and its
/// own result is what the model gets either way.
/// </summary>
public sealed class SubtreeVerifier<T> : IDisposable where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly TrainConfig _config;
    private readonly int[] _tokens;
    private readonly Activation _act;
    private readonly SubtreeComputer<T> _computer;
    private long _jobs;

    /// <param name="threads">the verifier's compute engine: threads of its own, never the thread pool (where Akka's heartbeats run)</param>
    public SubtreeVerifier(TrainConfig config, Corpus corpus, int threads)
    {
        _config = config;
        _tokens = corpus.Tokens;
        _act = config.ActivationKind;
        _computer = new SubtreeComputer<T>(Kernels.For<T>(config.ShapeFor(corpus.Vocabulary.Size), config.Dropout), Math.Max(1, threads), "distrnn-verify");
    }

    /// <summary>
    /// The sum over <paramref name="node"/>'s shards of the step's <paramref name="batch"/> with <paramref name="parameters"/>,
    /// on the verifier's engine (the same kernel, cut and tree order as every worker's). The result is the caller's:
    /// each recomputation is its own step of the engine, so nothing of it is reused later.
    /// </summary>
    /// <param name="initialStates">--state carry: the step's initial states (batch × StateSize), the ones the workers were sent</param>
    /// <returns>the sum, and with <paramref name="initialStates"/> the node's final states (its sequences × StateSize)</returns>
    public async Task<(ShardSum<T> Sum, T[]? States)> RecomputeAsync(SequenceRef[] batch, Subtree node, Tensors<T> parameters, T[]? initialStates = null)
    {
        long job = Interlocked.Increment(ref _jobs);
        ShardSum<T>? result = null;
        var carry = initialStates is null ? null : new StepCarry<T>(initialStates, new T[initialStates.Length], parameters.Shape.StateSize);
        // copied out on the engine's thread, inside the job: the engine reuses its buffers from the next job on
        await _computer.Submit(() => _computer.Compute(job, parameters, _act, _tokens, batch, _config.ShardCount, [node],
            (_, sum) => result = new ShardSum<T>(sum.Grad.Clone(), sum.Loss, sum.Chars), carry: carry)).ConfigureAwait(false);
        if (result is null) throw new InvalidOperationException($"recomputing subtree {node} gave no result");
        if (carry is null) return (result, null);
        var (first, count) = SubtreeComputer<T>.SequencesOf(node, batch.Length, _config.ShardCount);
        return (result, carry.FinalOf(first, count).ToArray());
    }

    public void Dispose() => _computer.Dispose();
}
