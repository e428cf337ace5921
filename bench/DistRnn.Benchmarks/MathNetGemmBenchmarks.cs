using BenchmarkDotNet.Attributes;
using MathNet.Numerics.LinearAlgebra;

namespace DistRnn.Benchmarks;

/// <summary>
/// The same two products as <see cref="GemmBenchmarks"/> through MathNet.Numerics' managed provider (the one that
/// needs no native library), into preallocated results: what the kernel would get by using MathNet inside as well
/// as at its boundaries. Compare with GemmBenchmarks at the same D and B.
/// </summary>
[MemoryDiagnoser]
public class MathNetGemmBenchmarks
{
    [Params(256, 1024)] public int D;
    [Params(2, 16)] public int B;

    private Matrix<float> a = null!, w = null!, c = null!, x = null!, y = null!, g = null!;
    private const int R = 128;

    [GlobalSetup]
    public void Setup()
    {
        MathNet.Numerics.Control.UseManaged();
        var rng = new Random(1);
        float R_(int i, int j) => (float)(rng.NextDouble() - 0.5);
        a = Matrix<float>.Build.Dense(B, D, R_);
        w = Matrix<float>.Build.Dense(D, D, R_);
        c = Matrix<float>.Build.Dense(B, D);
        x = Matrix<float>.Build.Dense(R, D, R_);
        y = Matrix<float>.Build.Dense(R, D, R_);
        g = Matrix<float>.Build.Dense(D, D);
    }

    /// <summary>s_{t−1} W for B sequences: 2·B·d² flops.</summary>
    [Benchmark]
    public void Recurrence() => a.Multiply(w, c);

    /// <summary>Σ_r s_{t−1}ᵀ da_t over 128 rows: 2·128·d² flops.</summary>
    [Benchmark]
    public void WeightGradient() => x.TransposeThisAndMultiply(y, g);
}
