namespace DistRnn.Model;

/// <summary>
/// One training sequence inside a token array: inputs tokens[Start .. Start+Length−1],
/// targets tokens[Start+1 .. Start+Length], so Length characters are predicted. <see cref="DropoutKey"/>: where its
/// dropout masks come from (<see cref="Dropout.SequenceKey"/>; set for training batches, 0 elsewhere and unused there).
/// </summary>
public readonly record struct SequenceRef(int Start, int Length, ulong DropoutKey = 0);
