using BenchmarkDotNet.Attributes;
using DistRnn.Model.Fast;

namespace DistRnn.Benchmarks;

/// <summary>
/// The products of one training step at the shapes the kernel meets (float32): the recurrence
/// (B rows · d×d, B = sequences per core) and a weight gradient (d×R · R×d, R = rows of one shard).
/// </summary>
[MemoryDiagnoser]
public class GemmBenchmarks
{
    [Params(256, 1024)] public int D;
    [Params(2, 16)] public int B;
    /// <summary>512-bit vectors (AVX-512 hosts only; same bits as 256-bit).</summary>
    [ParamsAllValues] public bool Wide;

    private float[] a = [], w = [], c = [], x = [], y = [], g = [];
    private int dn, dp; // computed columns (a multiple of the tile width), row stride
    private const int R = 128;

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(1);
        Wide &= Gemm<float>.Wide;
        dn = Gemm<float>.Pad(D, Wide);
        dp = Gemm<float>.Stride(D, Wide); // the row stride the kernel uses (a multiple of 256 bytes would alias cache sets)
        float R_() => (float)(rng.NextDouble() - 0.5);
        a = Enumerable.Range(0, B * dp).Select(_ => R_()).ToArray();
        w = Enumerable.Range(0, D * dp).Select(_ => R_()).ToArray();
        c = new float[B * dp];
        x = Enumerable.Range(0, R * dp).Select(_ => R_()).ToArray();
        y = Enumerable.Range(0, R * dp).Select(_ => R_()).ToArray();
        g = new float[D * dp];
    }

    /// <summary>a_t += s_{t−1} W for B sequences: 2·B·d² flops.</summary>
    [Benchmark]
    public void Recurrence() => Gemm<float>.Run(a, dp, 1, w, dp, c, dp, B, dn, D, Wide);

    /// <summary>dW += Σ_r s_{t−1}ᵀ da_t over 128 rows: 2·128·d² flops.</summary>
    [Benchmark]
    public void WeightGradient() => Gemm<float>.Run(x, 1, dp, y, dp, g, dp, D, dn, R, Wide);
}
