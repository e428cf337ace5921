using System.Numerics;
using DistRnn.Compute;
using DistRnn.Model;
using DistRnn.Reduction;
using Xunit;
using static DistRnn.Tests.Kernel.FastKernelTests;

namespace DistRnn.Tests.Kernel;

/// <summary>
/// "No allocation per step in steady state": once a shape has been seen, a step's gradient of a whole subtree
/// (the single-process loop) or of one piece (a worker's thread) allocates a few small objects, never anything
/// of the model's size. Measured on the calling thread, so other tests running meanwhile do not count.
/// </summary>
public sealed class SteadyStateAllocationTests
{
    [Fact]
    public void A_step_on_one_thread_allocates_nothing_of_the_models_size()
    {
        Check<float>();
        Check<double>();
    }

    private static void Check<T>() where T : unmanaged, IFloatingPointIeee754<T>
    {
        var shape = new ModelShape(65, 128);
        long gradientBytes = (long)shape.Count * System.Runtime.CompilerServices.Unsafe.SizeOf<T>();
        var p = RandomParams<T>(shape, 41, 0.3);
        var tokens = RandomTokens(6000, 65, 42);
        var seqs = RandomSeqs(Enumerable.Repeat(32, 16).ToArray(), tokens.Length, 43);
        const int shards = 8;
        var root = Subtree.Root(shards);
        var computer = new SubtreeComputer<T>(Kernels.Default<T>(), maxParallelism: 1);
        var into = new Tensors<T>(shape);

        // the single-process loop: the root into the caller's buffer, every step
        for (int warm = 0; warm < 2; warm++) computer.Compute(p, Activation.Tanh, tokens, seqs, shards, root, into);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int step = 0; step < 5; step++) computer.Compute(p, Activation.Tanh, tokens, seqs, shards, root, into);
        long perStep = (GC.GetAllocatedBytesForCurrentThread() - before) / 5;
        Assert.True(perStep < gradientBytes / 16, $"{typeof(T).Name}: a step allocates {perStep} bytes; one gradient is {gradientBytes}");

        // a worker's piece: parameters packed once per job, the sum into a pooled buffer
        var packed = computer.Pack(p);
        var half = new Subtree(root.Level - 1, 1);
        for (int warm = 0; warm < 2; warm++) computer.ComputePiece(p, packed, Activation.Tanh, tokens, seqs, shards, half, into);
        before = GC.GetAllocatedBytesForCurrentThread();
        for (int step = 0; step < 5; step++)
        {
            computer.Pack(p, packed);
            computer.ComputePiece(p, packed, Activation.Tanh, tokens, seqs, shards, half, into);
        }
        perStep = (GC.GetAllocatedBytesForCurrentThread() - before) / 5;
        Assert.True(perStep < gradientBytes / 16, $"{typeof(T).Name}: a piece allocates {perStep} bytes; one gradient is {gradientBytes}");
    }
}
