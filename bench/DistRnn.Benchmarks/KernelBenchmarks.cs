using BenchmarkDotNet.Attributes;
using DistRnn.Compute;
using DistRnn.Data;
using DistRnn.Model;
using DistRnn.Model.Fast;
using DistRnn.Reduction;

namespace DistRnn.Benchmarks;

/// <summary>Whole shards and whole steps: the fast kernel against the plain oracle, and the activations.</summary>
[MemoryDiagnoser]
public class KernelBenchmarks
{
    [Params(128, 256)] public int Hidden;

    private Tensors<float> p = null!, grad = null!;
    private int[] tokens = [];
    private SequenceRef[] shard = [], batch = [];
    private SubtreeComputer<float> computer1 = null!, computer2 = null!;
    private float[] act = [];
    private long step;

    [GlobalSetup]
    public void Setup()
    {
        var corpus = Corpus.Load(null);
        tokens = corpus.Tokens;
        p = Initializer.Uniform<float>(new ModelShape(corpus.Vocabulary.Size, Hidden), 1);
        grad = new Tensors<float>(p.Shape);
        batch = new BatchPlan(1, tokens.Length - 1, 64, 32).ForStep(1);
        shard = batch[..2];
        computer1 = new SubtreeComputer<float>(FastKernel<float>.Instance, 1);
        computer2 = new SubtreeComputer<float>(FastKernel<float>.Instance, 2);
        act = Enumerable.Range(0, 64 * 1032).Select(i => (float)Math.Sin(i) * 3).ToArray();
    }

    /// <summary>One shard (2 sequences × 64 characters), the plain oracle.</summary>
    [Benchmark(Baseline = true)]
    public double ShardPlain() { grad.Clear(); return PlainKernel<float>.Instance.Accumulate(p, Activation.Tanh, tokens, shard, grad); }

    [Benchmark]
    public double ShardFast() { grad.Clear(); return FastKernel<float>.Instance.Accumulate(p, Activation.Tanh, tokens, shard, grad); }

    /// <summary>A whole step's gradient (32 sequences, 16 shards, tree sum) on one and on two cores.</summary>
    [Benchmark]
    public double Step1Core() => computer1.ComputeAsync(++step, p, Activation.Tanh, tokens, batch, 16, Subtree.Root(16)).GetAwaiter().GetResult().Loss;

    [Benchmark]
    public double Step2Cores() => computer2.ComputeAsync(++step, p, Activation.Tanh, tokens, batch, 16, Subtree.Root(16)).GetAwaiter().GetResult().Loss;

    [GlobalCleanup]
    public void Cleanup()
    {
        computer1.Dispose();
        computer2.Dispose();
    }

    /// <summary>σ over 64 rows of 1032 floats (DetMath's bits, vectorised).</summary>
    [Benchmark]
    public void TanhVectorised() => DetVec.Activate<float>(act, Activation.Tanh);
}
