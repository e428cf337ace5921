using System.Collections.Concurrent;
using System.Text.Json;
using Akka.Actor;
using DistRnn.Configuration;
using DistRnn.Coordinator.Node;
using DistRnn.Coordinator.Training;
using DistRnn.Coordinator.Verification;
using DistRnn.Data;
using DistRnn.Model;
using DistRnn.Protocol;
using DistRnn.Reduction;
using DistRnn.Transport;
using DistRnn.Worker.Node;

namespace DistRnn.Tests.Cluster;

/// <summary>
/// Overflow by finite pieces (issue 12 B) on a real in-process cluster: a registered worker answers each subtree it is
/// given with its two halves, each finite and well-formed alone, forged so that their sum overflows — a loss of 1e308
/// each, or float.MaxValue at the same gradient position. The run must end with the bits of an honest run, and each
/// liar must be excluded.
/// </summary>
public sealed class FiniteForgeryTests
{
    private static readonly TrainConfig Small = new() { Hidden = 16, Seq = 12, Batch = 8, Shards = 8, Steps = 3, Seed = 5, Lr = 0.01 };
    private readonly Corpus _corpus = TestUtil.CorpusOf(TestUtil.SmallText());

    private enum Forgery { HugeLoss, MaxGradient }

    /// <summary>Each subtree of a job answered with its two halves, finite alone and forged to overflow together.</summary>
    private IEnumerable<SubtreeResult> Halves(ComputeSubtrees job, Forgery forgery)
    {
        var shape = new ModelShape(_corpus.Vocabulary.Size, Small.Hidden);
        var uniform = Enumerable.Repeat(new SequenceRef(0, Small.Seq), Small.Batch).ToArray();
        foreach (var node in job.Nodes)
            foreach (var half in node.IsLeaf ? [node] : new[] { node.Left, node.Right })
            {
                long chars = GradientValidator<float>.ExpectedChars(uniform, Small.ShardCount, half);
                var grad = new float[shape.Count];
                if (forgery == Forgery.MaxGradient) grad[shape.WOffset + 1] = float.MaxValue;
                double loss = forgery == Forgery.HugeLoss ? 1e308 : 1.0;
                // --state carry: well-formed final states, so the forged gradient is what gets it recomputed
                var states = job.States is null ? null : TensorPayload.Wrap(new float[(int)(chars / Small.Seq) * shape.StateSize]);
                yield return new SubtreeResult(job.RunId, job.Step, half, loss, chars, TensorPayload.Wrap(grad), states);
            }
    }

    /// <param name="state">with carry, the recomputation starts from the step's carried states and gives the node's final ones</param>
    [Theory]
    [InlineData("reset")]
    [InlineData("carry")]
    public async Task Halves_that_are_finite_alone_but_overflow_together_exclude_their_sender_and_the_result_is_unchanged(string state)
    {
        var config = Small with { State = state };
        string baseline = await ClusterTraining.TrainAsync<float>(config, _corpus, 0, new ConcurrentQueue<string>());
        var warnings = new ConcurrentQueue<string>();
        var observer = new NullObserver();
        await using var host = ClusterHost<float>.Start(CoordinatorSettings.For(config, _corpus) with { Warn = warnings.Enqueue }, _corpus, new ClusterHostOptions
        {
            LocalWorkers = 2, ThreadsPerWorker = 1,
        });
        var forgers = new List<ProtocolRogue>();
        try
        {
            foreach (var forgery in new[] { Forgery.HugeLoss, Forgery.MaxGradient })
                forgers.Add(ProtocolRogue.Start(host.Coordinator.Address, $"forger-{forgery}", _corpus, job => Halves(job, forgery).ToList()));
            using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
            // all four registered before step 1: 8 shards over 4 workers, so each forger is given a subtree of two shards
            await host.WaitForWorkersAsync(4, TimeSpan.FromSeconds(90), _ => { }, timeout.Token);
            var options = new TrainOptions { OutDir = TestUtil.TempDir(), CheckpointEvery = 1000, ValWindows = 4, Parallelism = 2 };
            var result = await new Trainer<float>(new TrainingSession<float>(config, _corpus), host.Source, Kernels.Default<float>(), options, observer).RunAsync(timeout.Token);

            Assert.True(result.ParamsSha256 == baseline,
                $"params_sha256 {result.ParamsSha256}, the single-process loop's {baseline}; the training loop said:\n{string.Join("\n", observer.Warnings)}\nthe coordinator said:\n{string.Join("\n", warnings)}");
            Assert.DoesNotContain(observer.Warnings, w => w.Contains("skipped"));
            var reasons = await Task.WhenAll(forgers.Select(f => f.Refused.WaitAsync(TimeSpan.FromSeconds(10))));
            Assert.All(reasons, r => Assert.Contains("excluded", r));
            Assert.Contains(warnings, w => w.Contains("forger-HugeLoss") && w.Contains("excluded") && w.Contains("per character"));
            Assert.Contains(warnings, w => w.Contains("forger-MaxGradient") && w.Contains("excluded") && w.Contains("recomputed here"));
            Assert.Equal(2, await ClusterTraining.WorkersSettleAt(() => host.Source.Workers, 2, TimeSpan.FromSeconds(30)));
            await host.EndRunAsync(true, "test finished");
        }
        finally
        {
            foreach (var f in forgers) await f.DisposeAsync();
        }
    }
}
