using System.Numerics;
using DistRnn.Data;
using DistRnn.Model;
using DistRnn.Util;

namespace DistRnn.Coordinator.Inference;

/// <summary>Generates text: feed the prime through the model, then draw each next character from softmax(z/temperature).</summary>
public static class Sampler
{
    public static string Sample<T>(Tensors<T> p, Activation act, Vocabulary vocab, string prime, int length, double temperature, long seed)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (length < 0) throw new InputException($"--length {length}: must not be negative");
        if (!(temperature > 0) || double.IsInfinity(temperature)) throw new InputException($"--temperature {temperature}: must be a positive number");
        var ids = vocab.Encode(prime, "--prime");
        if (ids.Length == 0) throw new InputException("--prime: must not be empty");
        int d = p.Shape.D, k = p.Shape.K;
        var s = new T[d]; var next = new T[d];
        var z = new double[k];
        var rng = Rng.For(seed, Rng.Purpose.Sample, 0);
        var output = new System.Text.StringBuilder(prime);
        int x = ids[0];
        for (int i = 0; i < ids.Length + length - 1; i++)
        {
            RnnCell.Step(p, act, x, s, next);
            (s, next) = (next, s);
            if (i + 1 < ids.Length) { x = ids[i + 1]; continue; }
            RnnCell.Logits(p, s, z, temperature);
            RnnCell.LogSoftmax(z);
            x = Draw(z, rng);
            output.Append(vocab.Symbols[x]);
        }
        return output.ToString();
    }

    private static int Draw(ReadOnlySpan<double> logProbs, Rng rng)
    {
        double u = rng.NextDouble(), acc = 0;
        for (int i = 0; i < logProbs.Length; i++)
        {
            acc += DetMath.Exp(logProbs[i]);
            if (u < acc) return i;
        }
        return logProbs.Length - 1;
    }
}
