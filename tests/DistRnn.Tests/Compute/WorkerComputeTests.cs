using System.Collections.Concurrent;
using DistRnn.Compute;
using DistRnn.Configuration;
using DistRnn.Coordinator.Training;
using DistRnn.Model;
using DistRnn.Protocol;
using DistRnn.Reduction;
using DistRnn.Worker.Compute;

namespace DistRnn.Tests.Compute;

/// <summary>
/// A worker's compute on its long-lived threads with pooled gradients: every subtree it sends has the bits of the
/// single-process computation, and a gradient it sent is not overwritten while its step lasts (it may still be on
/// its way), even when the same step asks for more work.
/// </summary>
public sealed class WorkerComputeTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Sent_gradients_have_the_reference_bits_and_stay_untouched_for_the_rest_of_their_step()
    {
        var config = new TrainConfig { Hidden = 24, Seq = 10, Batch = 16, Shards = 8, Steps = 5, Seed = 3 };
        var corpus = TestUtil.CorpusOf(TestUtil.SmallText());
        var session = new TrainingSession<float>(config, corpus);
        using var reference = new SubtreeComputer<float>(Kernels.Default<float>(), 1);
        var root = Subtree.Root(config.ShardCount);
        using var compute = new WorkerCompute<float>(config, corpus, threads: 2);

        var sent = new ConcurrentQueue<(SubtreeResult Result, float[] AtSend)>();
        void Emit(SubtreeResult r) => sent.Enqueue((r, r.Gradient.ToArray<float>()));
        void AssertReference(long step, Tensors<float> p, SubtreeResult r)
        {
            var want = reference.ComputeAsync(step, p, session.Activation, corpus.Tokens, session.BatchFor(step), config.ShardCount, r.Node).GetAwaiter().GetResult();
            Assert.Equal(want.Grad.Data, r.Gradient.ToArray<float>());
            Assert.Equal(want.Loss, r.Loss);
            Assert.Equal(want.Chars, r.Chars);
        }

        var p1 = session.Params.Clone();
        await compute.RunAsync(new ComputeSubtrees("run", 1, [root.Left, root.Right], TensorPayload.Wrap(p1.Data)), Emit, CancellationToken.None).WaitAsync(Bound);
        var firstJob = sent.ToArray();
        Assert.Equal(2, firstJob.Length);
        foreach (var (r, _) in firstJob) AssertReference(1, p1, r);

        // the same step asks again (a backup of the whole root): fresh buffers, the sent ones keep their values
        await compute.RunAsync(new ComputeSubtrees("run", 1, [root], TensorPayload.Wrap(p1.Data)), Emit, CancellationToken.None).WaitAsync(Bound);
        var backup = sent.ToArray()[2].Result;
        AssertReference(1, p1, backup);
        foreach (var (r, atSend) in firstJob) Assert.Equal(atSend, r.Gradient.ToArray<float>());

        // later steps (other parameters) reuse the pool and still give the reference bits
        for (long step = 2; step <= 4; step++)
        {
            var p = session.Params.Clone();
            for (int i = 0; i < p.Data.Length; i++) p.Data[i] += 0.001f * step * ((i % 7) - 3);
            int before = sent.Count;
            await compute.RunAsync(new ComputeSubtrees("run", step, [root.Left.Left, root.Left.Right, root.Right], TensorPayload.Wrap(p.Data)), Emit, CancellationToken.None).WaitAsync(Bound);
            var results = sent.ToArray()[before..];
            Assert.Equal(3, results.Length);
            foreach (var (r, atSend) in results)
            {
                Assert.Equal(step, r.Step);
                AssertReference(step, p, r);
                Assert.Equal(atSend, r.Gradient.ToArray<float>());
            }
        }
    }

    [Fact]
    public async Task A_cancelled_job_ends_without_sending_and_the_next_one_runs()
    {
        var config = new TrainConfig { Hidden = 16, Seq = 8, Batch = 8, Shards = 4, Steps = 2, Seed = 4 };
        var corpus = TestUtil.CorpusOf(TestUtil.SmallText());
        var session = new TrainingSession<float>(config, corpus);
        using var compute = new WorkerCompute<float>(config, corpus, threads: 2);
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();
        var sent = new ConcurrentQueue<SubtreeResult>();
        var job = new ComputeSubtrees("run", 1, [Subtree.Root(config.ShardCount)], TensorPayload.Wrap(session.Params.Data));
        await compute.RunAsync(job, sent.Enqueue, cancelled.Token).WaitAsync(Bound);
        Assert.Empty(sent);
        await compute.RunAsync(job, sent.Enqueue, CancellationToken.None).WaitAsync(Bound);
        Assert.Single(sent);
    }
}
