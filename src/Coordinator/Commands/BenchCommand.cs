using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Numerics;
using System.Text.Json;
using DistRnn.Compute;
using DistRnn.Configuration;
using DistRnn.Coordinator.Node;
using DistRnn.Coordinator.Training;
using DistRnn.Data;
using DistRnn.Model;
using DistRnn.Util;

namespace DistRnn.Coordinator.Commands;

/// <summary>
/// `bench`: training throughput on a corpus (default: the embedded one) after a warm-up. Each measured step is a whole
/// training step — the gradient of the global batch from the gradient source, then clip and update —
/// like the PyTorch peer (../shared/bench/torch_rnn.py), which also uses plain SGD with clip 5.
/// `--workers 0` measures the kernel loop alone (this process's cores); `--workers N` the local cluster.
/// </summary>
internal static class BenchCommand
{
    private static readonly Option<string?> CorpusOpt = Options.Optional<string>("--corpus", "UTF-8 text to measure on (default: the embedded tiny-shakespeare); its vocabulary size is k");
    private static readonly Option<int> Hidden = Options.Make("--hidden", "State size d", 256);
    private static readonly Option<int> Seq = Options.Make("--seq", "Characters per sequence T", 64);
    private static readonly Option<int> Batch = Options.Make("--batch", "Sequences per step (global)", 32);
    private static readonly Option<long> Steps = Options.Make("--steps", "Measured steps (after the warm-up)", 30L);
    private static readonly Option<int> Warmup = Options.Make("--warmup", "Steps run before measuring (JIT, caches, buffers)", 5);
    private static readonly Option<int> Workers = Options.Make("--workers", "0 = the kernel loop in this process; N = N local worker nodes (the cluster path)", 0);
    private static readonly Option<string> PrecisionOpt = Options.Make("--precision", "Arithmetic: float32 or float64", "float32");
    private static readonly Option<string> ActivationOpt = Options.Make("--activation", "σ: tanh or sigmoid", "tanh");
    private static readonly Option<string> CellOpt = Options.Make("--cell", "Recurrent cell: rnn, lstm or gru (docs/cells.md)", "rnn");
    private static readonly Option<int> Layers = Options.Make("--layers", "Stacked recurrent layers", 1);
    private static readonly Option<double> DropoutOpt = Options.Make("--dropout", "Dropout p on every layer's output (0 = none)", 0.0);
    private static readonly Option<int> Shards = Options.Make("--shards", "Shards per step, a power of two ≤ batch (0 = the training default)", 0);
    private static readonly Option<int> Threads = Options.Make("--threads", "Cores used by the kernel loop (--workers 0) or by each local worker (0 = all, shared among the workers)", 0);
    private static readonly Option<bool> Json = new("--json") { Description = "One JSON line: chars_per_s, step_ms_median, gflops, …" };
    private static readonly Option<bool> Breakdown = new("--breakdown")
    {
        Description = "With --workers N: where a step's time goes (ask → coordinator → worker → compute → result → answer), medians in ms",
    };

    public static Command Create()
    {
        var cmd = new Command("bench", "Training throughput (characters per second) on the embedded corpus or --corpus FILE")
        {
            CorpusOpt, Hidden, Seq, Batch, Steps, Warmup, Workers, PrecisionOpt, ActivationOpt, CellOpt, Layers, DropoutOpt, Shards, Threads, Json, Breakdown, Options.Verbose,
        };
        cmd.SetAction((parse, ct) => RunAsync(parse, ct));
        return cmd;
    }

    private static async Task<int> RunAsync(ParseResult parse, CancellationToken ct)
    {
        long stepsGiven = parse.GetValue(Steps);
        int warmup = parse.GetValue(Warmup), workers = parse.GetValue(Workers), threads = parse.GetValue(Threads);
        if (stepsGiven <= 0 || stepsGiven > 1_000_000) throw new InputException($"--steps {stepsGiven}: must be between 1 and 1000000");
        int steps = (int)stepsGiven;
        if (warmup < 0 || warmup > 1_000_000) throw new InputException($"--warmup {warmup}: must be between 0 and 1000000");
        if (workers < 0) throw new InputException($"--workers {workers}: must not be negative");
        if (threads < 0) throw new InputException($"--threads {threads}: must not be negative");
        var config = new TrainConfig
        {
            Hidden = parse.GetValue(Hidden),
            Seq = parse.GetValue(Seq),
            Batch = parse.GetValue(Batch),
            Steps = warmup + steps,
            Optimizer = "sgd",
            Lr = 0.01,
            Clip = 5,
            Activation = parse.GetValue(ActivationOpt)!,
            Cell = parse.GetValue(CellOpt)!,
            Layers = parse.GetValue(Layers),
            Dropout = parse.GetValue(DropoutOpt),
            Precision = parse.GetValue(PrecisionOpt)!,
            Shards = parse.GetValue(Shards),
        };
        config.Validate();
        Options.CheckEnvironment();
        string? corpusPath = parse.GetValue(CorpusOpt);
        var corpus = Corpus.Load(corpusPath);
        config.ShapeFor(corpus.Vocabulary.Size).Validate($"--hidden {config.Hidden}");
        if (corpus.SplitIndex(config.ValFrac) < config.Seq + 1)
            throw new InputException($"--corpus {InputFile.Show(corpusPath ?? corpus.Name)}: its training split has {corpus.SplitIndex(config.ValFrac)} characters, fewer than --seq {config.Seq} + 1");
        bool breakdown = parse.GetValue(Breakdown);
        if (breakdown && workers == 0) throw new InputException("--breakdown: needs --workers 1 or more (it times the cluster path's hand-offs)");
        if (breakdown) DistRnn.Diagnostics.StepTimeline.Start();
        var result = config.PrecisionKind == Precision.Float32
            ? await MeasureAsync<float>(config, corpus, warmup, steps, workers, threads > 0 ? threads : Environment.ProcessorCount, threads, ct)
            : await MeasureAsync<double>(config, corpus, warmup, steps, workers, threads > 0 ? threads : Environment.ProcessorCount, threads, ct);

        if (parse.GetValue(Json))
            Console.WriteLine(JsonSerializer.Serialize(result, new JsonSerializerOptions(ReadableJson.Options) { DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull }));
        else
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{result.chars_per_s:F0} chars/s  step {result.step_ms_median:F2} ms (median of {result.steps}, min {result.step_ms_min:F2})  " +
                $"{result.gflops:F1} GFLOP/s  hidden {result.hidden} vocab {result.vocab} seq {result.seq} batch {result.batch} shards {result.shards}  " +
                $"{result.precision}  {(result.cell == "rnn" && result.layers == 1 ? "" : $"{result.cell} × {result.layers}  ")}workers {result.workers}  threads {result.threads}  peak RSS {result.peak_rss_mb:F0} MB"));
        if (result.breakdown is not null && !parse.GetValue(Json))
            foreach (var hop in result.breakdown)
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {hop.from,-20} → {hop.to,-20} median {hop.median_ms,7:F3} ms   p90 {hop.p90_ms,7:F3} ms"));
        DistRnn.Diagnostics.StepTimeline.Stop();
        return Cli.Ok;
    }

    /// <summary>The JSON line (snake_case names as the contract shows).</summary>
    internal sealed record Result(
        double chars_per_s, double step_ms_median, double step_ms_min, double gflops, int hidden, int seq, int batch,
        int vocab, string corpus, int shards, int steps, int warmup, int workers, int threads, string precision, string activation,
        double peak_rss_mb, long gc_count, string cell, int layers, List<Hop>? breakdown = null);

    /// <summary>One hand-off of a cluster step (--breakdown): from one point to the next, over the measured steps.</summary>
    internal sealed record Hop(string from, string to, double median_ms, double p90_ms);

    private static async Task<Result> MeasureAsync<T>(TrainConfig config, Corpus corpus, int warmup, int steps, int workers, int threads, int threadsGiven, CancellationToken ct)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var session = new TrainingSession<T>(config, corpus);
        if (workers == 0)
        {
            using var computer = new SubtreeComputer<T>(Kernels.For<T>(session.Params.Shape, config.Dropout), threads);
            var local = new LocalGradientSource<T>(computer, session.Activation, corpus.Tokens, session.ShardCount);
            return await LoopAsync(session, local, warmup, steps, workers, threads, ct);
        }
        // The local cluster exactly as `train --workers N` builds it: a coordinator node and N worker nodes,
        // each its own actor system in this process, joined over loopback; cores split among the workers.
        var clusterHost = ClusterHost<T>.Start(CoordinatorSettings.For(config, corpus), corpus, new ClusterHostOptions
        {
            LocalWorkers = workers,
            ThreadsPerWorker = threadsGiven,
        });
        try
        {
            await clusterHost.WaitForWorkersAsync(workers, TimeSpan.FromSeconds(60), _ => { }, ct);
            var result = await LoopAsync(session, clusterHost.Source, warmup, steps, workers, threadsGiven, ct);
            await clusterHost.EndRunAsync(true, "benchmark finished");
            return result;
        }
        finally
        {
            await clusterHost.DisposeAsync();
        }
    }

    private static string Snake(DistRnn.Diagnostics.StepPoint p) => JsonNamingPolicy.SnakeCaseLower.ConvertName(p.ToString());

    private static async Task<Result> LoopAsync<T>(TrainingSession<T> session, IGradientSource<T> source, int warmup, int steps, int workers, int threads, CancellationToken ct)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var config = session.Config;
        var corpus = session.Corpus;
        var times = new double[steps];
        long chars = 0;
        int gcBefore = 0;
        var total = new Stopwatch();
        for (int i = 0; i < warmup + steps; i++)
        {
            ct.ThrowIfCancellationRequested();
            if (i == warmup) { gcBefore = GC.CollectionCount(0); total.Start(); }
            long step = session.Step + 1;
            var clock = Stopwatch.StartNew();
            StepOutcome outcome;
            using (var sum = await source.ComputeAsync(step, session.Params, session.BatchFor(step), session.CarryFor(step), ct).ConfigureAwait(false))
                outcome = session.Apply(sum.Sum);
            if (i >= warmup) { times[i - warmup] = clock.Elapsed.TotalMilliseconds; chars += outcome.Chars; }
        }
        total.Stop();
        Array.Sort(times);
        double median = steps % 2 == 1 ? times[steps / 2] : (times[steps / 2 - 1] + times[steps / 2]) / 2;
        double cps = chars / total.Elapsed.TotalSeconds;
        using var self = Process.GetCurrentProcess();
        return new Result(Math.Round(cps, 1), Math.Round(median, 3), Math.Round(times[0], 3), Math.Round(cps * FlopsPerChar(session.Params.Shape) / 1e9, 2),
            config.Hidden, config.Seq, config.Batch, corpus.Vocabulary.Size, corpus.Name, session.ShardCount, steps, warmup, workers,
            workers == 0 ? threads : threads > 0 ? threads : Math.Max(1, Environment.ProcessorCount / workers), config.Precision, config.Activation,
            Math.Round(self.PeakWorkingSet64 / 1048576.0, 1), GC.CollectionCount(0) - gcBefore, config.Cell, config.Layers,
            DistRnn.Diagnostics.StepTimeline.Enabled
                ? DistRnn.Diagnostics.StepTimeline.Summary(warmup + 1, warmup + steps)
                    .Select(h => new Hop(Snake(h.From), Snake(h.To), Math.Round(h.MedianMs, 4), Math.Round(h.P90Ms, 4))).ToList()
                : null);
    }

    /// <summary>
    /// The arithmetic of one training step per predicted character (what the gflops figure counts), from the
    /// model's shapes: d = hidden, k = vocabulary; a product of an m×n and an n×p matrix is 2mnp operations
    /// (a multiply and an add each), an element-wise operation or a σ or exp of a value is one.
    /// <code>
    ///   forward    x_t U + b          d      (x_t is one-hot: the product is a row lookup, free; + b is d adds)
    ///              + s_{t−1} W        2d²
    ///              s_t = σ(·)         d
    ///              z_t = s_t V + c    2dk + k
    ///              softmax            4k     (z − max, exp, Σ, ÷ Σ)
    ///   backward   ∂L/∂V += s_tᵀ dz   2dk    (dz = y − onehot: one subtraction, left out with the loss's log)
    ///              ∂L/∂c += dz        k
    ///              ds = dz Vᵀ         2dk
    ///              + δ_{t+1} Wᵀ       2d²
    ///              δ_t = ds ⊙ σ'      3d     (σ' from s_t: 1 − s², or s(1 − s))
    ///              ∂L/∂W += s_{t−1}ᵀ δ 2d²
    ///              ∂L/∂U[x_t] += δ    d      (a row update, as x_t U is a row lookup)
    ///              ∂L/∂b += δ         d
    ///   total      6d² + 6dk + 7d + 6k
    /// </code>
    /// The k terms matter: with a large vocabulary (thousands of CJK characters) and a small d, 6dk dominates and
    /// 6k is not negligible. Left out, as they are per step rather than per character (a few P = 2dk + d² + d + k
    /// per step of batch × seq characters): the sum of the shards' gradients, the clip and the update. The first
    /// step's s_0 W (s_0 = 0, which the kernel skips) and the last step's δ_{T+1} Wᵀ (δ_{T+1} = 0) are counted
    /// as every other step's, so the figure is the model's arithmetic per character, the same at any --seq.
    /// </summary>
    /// <remarks>
    /// A gated or stacked model (docs/cells.md) counts its products alone, plus the output layer's: each layer's
    /// h_{t−1} Wh, its backward da Whᵀ and its ∂L/∂Wh (3 · 2·d·G·d), the same three for x_t Wx above the first layer, and
    /// 6dk + 6k for the output layer — 6·G·d²·(2L − 1) + 6dk + 6k, G the gate count (rnn 1, lstm 4, gru 3); the cells'
    /// element-wise work (O(G·d) per layer) is left out.
    /// </remarks>
    internal static double FlopsPerChar(ModelShape shape)
    {
        if (shape.IsElman) return FlopsPerChar(shape.Hidden, shape.VocabSize);
        double d = shape.D, k = shape.K, g = shape.Cell.Gates(), layers = shape.Layers;
        return 6 * g * d * d * (2 * layers - 1) + 6 * d * k + 6 * k;
    }

    internal static double FlopsPerChar(int hidden, int vocab)
    {
        double d = hidden, k = vocab;
        return 6 * d * d + 6 * d * k + 7 * d + 6 * k;
    }
}
