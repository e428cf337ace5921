using System.Numerics;
using DistRnn.Model;

namespace DistRnn.Tests.Model;

public class TensorsTests
{
    /// <summary>AllFinite (the step's finiteness check) finds one NaN or infinity anywhere: in a vector's lanes or the tail.</summary>
    [Fact]
    public void AllFinite_finds_one_NaN_or_infinity_at_any_position()
    {
        Check<float>([float.NaN, float.PositiveInfinity, float.NegativeInfinity], [float.MaxValue, float.MinValue, float.Epsilon, -0f, 0f]);
        Check<double>([double.NaN, double.PositiveInfinity, double.NegativeInfinity], [double.MaxValue, double.MinValue, double.Epsilon, -0.0, 0.0]);
    }

    private static void Check<T>(T[] bad, T[] finite) where T : unmanaged, IFloatingPointIeee754<T>
    {
        foreach (int hidden in new[] { 1, 2, 3, 5 })
        {
            var t = new Tensors<T>(new ModelShape(3, hidden));   // h² + 7h + 3 values (11, 21, 33, 63): vector bodies and tails of several lengths
            var rng = new Random(hidden);
            for (int i = 0; i < t.Data.Length; i++) t.Data[i] = i % 7 == 0 ? finite[i % finite.Length] : T.CreateTruncating(rng.NextDouble() * 4 - 2);
            Assert.True(t.AllFinite());
            for (int i = 0; i < t.Data.Length; i++)
                foreach (var b in bad)
                {
                    var keep = t.Data[i];
                    t.Data[i] = b;
                    Assert.False(t.AllFinite(), $"{typeof(T).Name} {b} at {i} of {t.Data.Length}");
                    t.Data[i] = keep;
                }
        }
    }
}
