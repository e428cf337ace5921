using BenchmarkDotNet.Running;

namespace DistRnn.Benchmarks;

/// <summary>Entry point: BenchmarkDotNet's switcher, e.g. `-- --filter '*Gemm*'` or `-- --list flat`.</summary>
public static class Program
{
    public static void Main(string[] args) => BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
}
