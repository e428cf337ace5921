using DistRnn.Configuration;
using DistRnn.Model;
using DistRnn.Util;

namespace DistRnn.Data;

/// <summary>
/// Which sequences a step trains on, from (seed, step) alone: B windows of T+1 characters starting at
/// uniformly random offsets in the training part. A resumed run or any worker recomputes the same plan.
/// </summary>
public sealed class BatchPlan
{
    private readonly long _seed;
    private readonly int _trainLength, _seqLen, _batch;

    public BatchPlan(long seed, int trainLength, int seqLen, int batch)
    {
        if (trainLength < seqLen + 1)
            throw new InputException($"the training text has {trainLength} characters, fewer than --seq {seqLen} + 1; lower --seq or use a longer corpus");
        _seed = seed; _trainLength = trainLength; _seqLen = seqLen; _batch = batch;
    }

    /// <summary>
    /// The batch plan of a run, from its configuration and corpus alone: the training loop, every worker and the
    /// coordinator's verifier all derive it here, so they cannot disagree on which sequences a step holds.
    /// </summary>
    public static BatchPlan For(TrainConfig config, Corpus corpus) =>
        new(config.Seed, corpus.SplitIndex(config.ValFrac), config.Seq, config.Batch);

    public int BatchSize => _batch;
    public int SeqLen => _seqLen;

    public SequenceRef[] ForStep(long step)
    {
        var rng = Rng.For(_seed, Rng.Purpose.Batch, step);
        var seqs = new SequenceRef[_batch];
        long positions = _trainLength - _seqLen; // valid starts: 0 .. trainLength − T − 1
        for (int i = 0; i < _batch; i++) seqs[i] = new SequenceRef((int)rng.NextLong(positions), _seqLen, Dropout.SequenceKey(_seed, step, i));
        return seqs;
    }

    /// <summary>Consecutive windows of T predicted characters over tokens[from..to), each from s_0 = 0 (eval).</summary>
    public static SequenceRef[] Windows(int from, int to, int seqLen)
    {
        var list = new List<SequenceRef>();
        for (int start = from; start + 1 < to; start += seqLen)
            list.Add(new SequenceRef(start, Math.Min(seqLen, to - 1 - start)));
        return list.ToArray();
    }
}
