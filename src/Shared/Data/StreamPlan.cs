using DistRnn.Configuration;
using DistRnn.Model;
using DistRnn.Util;

namespace DistRnn.Data;

/// <summary>
/// Which window of which stream a step trains on with <c>--state carry</c> (truncated BPTT), from (seed, step) alone.
/// The training text tokens[0 .. N) holds W = ⌊(N − 1) / T⌋ whole windows; window w predicts tokens[wT + 1 .. wT + T]
/// from tokens[wT .. wT + T − 1]. The batch is B streams: stream j starts at window
/// o_j = (r + ⌊j·W / B⌋) mod W, r uniform in [0, W) from the seed, and step s (1, 2, …) takes window
/// w_j(s) = (o_j + s − 1) mod W. Its s_0 is its final state of step s − 1, except at step 1 and whenever it has
/// wrapped to the start of the text (w_j(s) = 0), where s_0 = 0. Sequence j of a step is stream j, so shard j holds
/// the same streams at every step.
/// </summary>
public sealed class StreamPlan
{
    private readonly int _seqLen, _streams, _windows;
    private readonly int[] _offsets;

    public StreamPlan(long seed, int trainLength, int seqLen, int streams)
    {
        if (trainLength < seqLen + 1)
            throw new InputException($"the training text has {trainLength} characters, fewer than --seq {seqLen} + 1; lower --seq or use a longer corpus");
        if (streams < 1) throw new ArgumentOutOfRangeException(nameof(streams));
        _seqLen = seqLen; _streams = streams;
        _windows = (trainLength - 1) / seqLen;
        long r = Rng.For(seed, Rng.Purpose.Streams, 0).NextLong(_windows);
        _offsets = new int[streams];
        for (int j = 0; j < streams; j++) _offsets[j] = (int)((r + (long)j * _windows / streams) % _windows);
    }

    /// <summary>The stream plan of a run, from its configuration and corpus alone (as <see cref="BatchPlan.For"/>).</summary>
    public static StreamPlan For(TrainConfig config, Corpus corpus) =>
        new(config.Seed, corpus.SplitIndex(config.ValFrac), config.Seq, config.Batch);

    /// <summary>W: whole windows of the training text.</summary>
    public int Windows => _windows;
    public int Streams => _streams;

    /// <summary>o_j: the window stream <paramref name="stream"/> reads at step 1.</summary>
    public int OffsetOf(int stream) => _offsets[stream];

    /// <summary>w_j(s) = (o_j + s − 1) mod W.</summary>
    public int WindowAt(int stream, long step) => (int)((_offsets[stream] + (step - 1) % _windows + _windows) % _windows);

    /// <summary>Stream j starts step s from s_0 = 0 (step 1, or it wrapped to the start of the text); otherwise from its final state of step s − 1.</summary>
    public bool StartsFresh(int stream, long step) => step <= 1 || WindowAt(stream, step) == 0;

    /// <summary>Step s's sequences: sequence j is stream j's window, T characters predicted.</summary>
    public SequenceRef[] ForStep(long step)
    {
        var seqs = new SequenceRef[_streams];
        for (int j = 0; j < _streams; j++) seqs[j] = new SequenceRef(WindowAt(j, step) * _seqLen, _seqLen);
        return seqs;
    }

    /// <summary>
    /// Step <paramref name="step"/>'s incoming states (streams × <paramref name="stateSize"/>) into <paramref name="initial"/>:
    /// each stream's row of <paramref name="previousFinal"/> (its final state after step s − 1), or zeros where it starts fresh.
    /// </summary>
    public void InitialStates<T>(long step, ReadOnlySpan<T> previousFinal, Span<T> initial, int stateSize) where T : struct
    {
        for (int j = 0; j < _streams; j++)
        {
            var row = initial.Slice(j * stateSize, stateSize);
            if (StartsFresh(j, step)) row.Clear();
            else previousFinal.Slice(j * stateSize, stateSize).CopyTo(row);
        }
    }
}
