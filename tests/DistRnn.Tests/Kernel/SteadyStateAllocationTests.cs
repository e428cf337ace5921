using System.Numerics;
using DistRnn.Compute;
using DistRnn.Model;
using DistRnn.Reduction;
using Xunit;
using static DistRnn.Tests.Kernel.FastKernelTests;

namespace DistRnn.Tests.Kernel;

/// <summary>
/// "No allocation per step in steady state": once a shape has been seen, a step's gradient of a whole subtree
/// (the single-process loop) or of a worker's subtrees allocates a few small objects, never anything of the model's
/// size. Measured on the engine's one thread (where a one-thread engine computes), so other tests do not count.
/// </summary>
public sealed class SteadyStateAllocationTests
{
    [Fact]
    public void A_step_on_one_thread_allocates_nothing_of_the_models_size()
    {
        Check<float>();
        Check<double>();
    }

    [Fact]
    public void An_lstm_or_gru_step_with_dropout_on_one_thread_allocates_nothing_of_the_models_size()
    {
        foreach (var cell in new[] { Cell.Lstm, Cell.Gru })
        {
            Check<float>(new ModelShape(65, 32, cell, 2), 0.2);
            Check<double>(new ModelShape(65, 32, cell, 2), 0.2);
        }
    }

    [Fact]
    public void A_step_with_carried_states_on_one_thread_allocates_nothing_of_the_models_size()
    {
        Check<float>(new ModelShape(65, 32, Cell.Lstm, 2), 0.2, carried: true);
        Check<double>(new ModelShape(65, 32, Cell.Gru, 2), 0.0, carried: true);
        Check<float>(null, 0, carried: true);
    }

    private static void Check<T>(ModelShape? gated = null, double dropout = 0, bool carried = false) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var shape = gated ?? new ModelShape(65, 128);
        long gradientBytes = (long)shape.Count * System.Runtime.CompilerServices.Unsafe.SizeOf<T>();
        var p = RandomParams<T>(shape, 41, 0.3);
        var tokens = RandomTokens(6000, 65, 42);
        var seqs = RandomSeqs(Enumerable.Repeat(32, 16).ToArray(), tokens.Length, 43);
        const int shards = 8;
        var root = Subtree.Root(shards);
        using var computer = new SubtreeComputer<T>(Kernels.For<T>(shape, dropout), 1);
        long step = 0;
        StepCarry<T>? carry = null;
        if (carried)
        {
            carry = StepCarry<T>.For(seqs.Length, shape.StateSize);
            for (int i = 0; i < carry.Initial.Length; i++) carry.Initial[i] = T.CreateTruncating(Math.Sin(i) * 0.5);
        }

        long PerStep(Subtree[] nodes)
        {
            long perStep = 0;
            computer.Submit(() =>
            {
                void Step() => computer.Compute(++step, p, Activation.Tanh, tokens, seqs, shards, nodes, (_, _) => { }, carry: carry);
                for (int warm = 0; warm < 2; warm++) Step();
                long before = GC.GetAllocatedBytesForCurrentThread();
                for (int i = 0; i < 5; i++) Step();
                perStep = (GC.GetAllocatedBytesForCurrentThread() - before) / 5;
            }).GetAwaiter().GetResult();
            return perStep;
        }

        // the single-process loop: the root, every step
        long rootStep = PerStep([root]);
        Assert.True(rootStep < gradientBytes / 16, $"{typeof(T).Name}: a step allocates {rootStep} bytes; one gradient is {gradientBytes}");
        // a worker's job: two subtrees, each emitted
        long workerStep = PerStep([root.Left.Left, root.Right]);
        Assert.True(workerStep < gradientBytes / 16, $"{typeof(T).Name}: a worker's step allocates {workerStep} bytes; one gradient is {gradientBytes}");
    }
}
