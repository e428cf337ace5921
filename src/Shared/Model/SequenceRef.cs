namespace DistRnn.Model;

/// <summary>
/// One training sequence inside a token array: inputs tokens[Start .. Start+Length−1],
/// targets tokens[Start+1 .. Start+Length], so Length characters are predicted.
/// </summary>
public readonly record struct SequenceRef(int Start, int Length);
