namespace DistRnn.Util;

/// <summary>
/// SplitMix64: a tiny, well-studied generator whose output is fixed by its definition, unlike
/// System.Random whose seeded sequence is an implementation detail of the runtime. Every random
/// choice (initialisation, data order, sampling) derives from (seed, purpose, step) through it.
/// </summary>
public sealed class Rng
{
    private ulong _state;

    public Rng(ulong seed) { _state = seed; }

    /// <summary>A generator for one purpose and step, independent of every other (seed, purpose, step).</summary>
    public static Rng For(long seed, ulong purpose, long step)
    {
        ulong s = Mix((ulong)seed ^ 0x9E3779B97F4A7C15UL);
        s = Mix(s ^ purpose);
        s = Mix(s ^ (ulong)step);
        return new Rng(s);
    }

    public static ulong Mix(ulong z)
    {
        z += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    public ulong NextUInt64() => Next(ref _state);

    /// <summary>The generator's step on a state held by the caller (no object: hot loops such as dropout's masks).</summary>
    public static ulong Next(ref ulong state)
    {
        state += 0x9E3779B97F4A7C15UL;
        ulong z = state;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>Uniform in [0, 1) with 53 random bits.</summary>
    public double NextDouble() => ToDouble(NextUInt64());

    /// <summary>53 of <paramref name="bits"/>' bits as a uniform number in [0, 1).</summary>
    public static double ToDouble(ulong bits) => (bits >> 11) * (1.0 / (1UL << 53));

    /// <summary>Uniform integer in [0, n), unbiased (Lemire's rejection).</summary>
    public long NextLong(long n)
    {
        if (n <= 0) throw new ArgumentOutOfRangeException(nameof(n));
        ulong un = (ulong)n;
        ulong threshold = (0UL - un) % un;
        while (true)
        {
            ulong r = NextUInt64();
            ulong hi = Math.BigMul(r, un, out ulong lo);
            if (lo >= threshold) return (long)hi;
        }
    }

    public static class Purpose
    {
        public const ulong Init = 1;
        public const ulong Batch = 2;
        public const ulong Sample = 3;
        public const ulong ValSubset = 4;
        public const ulong Streams = 5;
        public const ulong Dropout = 6;
    }
}
