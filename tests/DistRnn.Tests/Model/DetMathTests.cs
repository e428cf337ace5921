using DistRnn.Model;
using DistRnn.Util;

namespace DistRnn.Tests.Model;

public class DetMathTests
{
    private static double Ulps(double a, double b)
    {
        if (a == b) return 0;
        double ulp = Math.Max(Math.BitIncrement(Math.Abs(b)) - Math.Abs(b), double.Epsilon);
        return Math.Abs(a - b) / ulp;
    }

    private static IEnumerable<double> Points()
    {
        var rng = new Rng(42);
        for (int i = 0; i < 20000; i++) yield return (2 * rng.NextDouble() - 1) * 30;
        for (int i = 0; i < 5000; i++) yield return (2 * rng.NextDouble() - 1) * 1e-3;
        yield return 0; yield return 1e-300; yield return -1e-300; yield return 0.5; yield return -0.5; yield return 19.99; yield return 22.5;
    }

    [Fact]
    public void Exp_is_within_a_few_ulps_of_the_platform()
    {
        foreach (var x in Points()) Assert.True(Ulps(DetMath.Exp(x), Math.Exp(x)) <= 4, $"exp({x:R})");
        var rng = new Rng(7);
        for (int i = 0; i < 5000; i++)
        {
            double x = (2 * rng.NextDouble() - 1) * 700;
            Assert.True(Ulps(DetMath.Exp(x), Math.Exp(x)) <= 4, $"exp({x:R})");
        }
        Assert.Equal(0.0, DetMath.Exp(-800));
        Assert.Equal(double.PositiveInfinity, DetMath.Exp(800));
        Assert.True(double.IsNaN(DetMath.Exp(double.NaN)));
    }

    [Fact]
    public void Tanh_is_within_a_few_ulps_of_the_platform_and_odd()
    {
        foreach (var x in Points())
        {
            Assert.True(Ulps(DetMath.Tanh(x), Math.Tanh(x)) <= 4, $"tanh({x:R}): {DetMath.Tanh(x):R} vs {Math.Tanh(x):R}");
            Assert.Equal(-DetMath.Tanh(x), DetMath.Tanh(-x));
        }
        Assert.Equal(1.0, DetMath.Tanh(100));
        Assert.Equal(-1.0, DetMath.Tanh(-100));
    }

    [Fact]
    public void Sigmoid_is_within_a_few_ulps_of_the_definition()
    {
        foreach (var x in Points())
        {
            double reference = x >= 0 ? 1 / (1 + Math.Exp(-x)) : Math.Exp(x) / (1 + Math.Exp(x));
            Assert.True(Ulps(DetMath.Sigmoid(x), reference) <= 4, $"sigmoid({x:R})");
        }
    }

    [Fact]
    public void Expm1_keeps_relative_precision_near_zero()
    {
        foreach (var x in new[] { 1e-10, -1e-10, 1e-5, -3e-4, 0.3, -0.3, 1.5, -2.5, -20 })
            Assert.True(Ulps(DetMath.Expm1(x), Math.Exp(x) - 1 is var r && Math.Abs(x) > 0.5 ? r : Series(x)) <= 4, $"expm1({x:R})");
    }

    private static double Series(double x)
    {
        double term = x, sum = x;
        for (int n = 2; n < 30; n++) { term *= x / n; sum += term; }
        return sum;
    }
}
