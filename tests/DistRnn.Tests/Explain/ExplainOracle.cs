using DistRnn.Compute;
using DistRnn.Configuration;
using DistRnn.Coordinator.Explain;
using DistRnn.Coordinator.Training;
using DistRnn.Model;
using MathNet.Numerics.LinearAlgebra;

namespace DistRnn.Tests.Explain;

/// <summary>
/// Independent float64 references for the explain tests: MathNet matrices and Math.Tanh/Math.Exp, written from the
/// equations, sharing no code with PathContributions.
/// </summary>
internal sealed class ExplainOracle
{
    private readonly Matrix<double> U, W, V;
    private readonly Vector<double> b, c;
    private readonly bool tanh;

    public ExplainOracle(Tensors<double> p, bool tanh)
    {
        int k = p.Shape.K, d = p.Shape.D;
        var M = Matrix<double>.Build;
        U = M.Dense(k, d, (i, j) => p.U[i * d + j]); W = M.Dense(d, d, (i, j) => p.W[i * d + j]);
        V = M.Dense(d, k, (i, j) => p.V[i * k + j]);
        b = Vector<double>.Build.DenseOfArray(p.B.ToArray()); c = Vector<double>.Build.DenseOfArray(p.C.ToArray());
        this.tanh = tanh;
    }

    public double Sigma(double a) => tanh ? Math.Tanh(a) : 1 / (1 + Math.Exp(-a));

    /// <summary>s_t = σ(x_t U + s_{t−1} W + b) (W applied to a row vector: Wᵀ times the column).</summary>
    public Vector<double> Step(Vector<double> sPrev, int x) => (U.Row(x) + W.TransposeThisAndMultiply(sPrev) + b).Map(Sigma);

    public Vector<double>[] States(int[] tokens)
    {
        int T = tokens.Length - 1;
        var s = new Vector<double>[T + 1];
        s[0] = Vector<double>.Build.Dense(W.RowCount);
        for (int t = 1; t <= T; t++) s[t] = Step(s[t - 1], tokens[t - 1]);
        return s;
    }

    public Vector<double> Deriv(Vector<double> s) => tanh ? s.Map(v => 1 - v * v) : s.Map(v => v * (1 - v));

    /// <summary>g_t = ∂L_t/∂s_t = (y_t − onehot(c_t)) Vᵀ.</summary>
    public Vector<double> OutputError(Vector<double> s, int target)
    {
        var z = V.TransposeThisAndMultiply(s) + c;
        double max = z.Maximum();
        var e = z.Map(v => Math.Exp(v - max));
        var dz = e / e.Sum();
        dz[target] -= 1;
        return V * dz;
    }

    /// <summary>∂L_t/∂θ by backpropagation with L_t alone as the loss: the backward pass starts at step t and only there.</summary>
    public double[] SingleLossGradient(int[] tokens, int t, ExplainParam param)
    {
        var s = States(tokens);
        int d = W.RowCount, k = U.RowCount;
        var dU = Matrix<double>.Build.Dense(k, d); var dW = Matrix<double>.Build.Dense(d, d); var db = Vector<double>.Build.Dense(d);
        var ds = OutputError(s[t], tokens[t]);
        for (int j = t; j >= 1; j--)
        {
            var da = ds.PointwiseMultiply(Deriv(s[j]));
            dW += s[j - 1].OuterProduct(da);
            dU.SetRow(tokens[j - 1], dU.Row(tokens[j - 1]) + da);
            db += da;
            ds = W * da;
        }
        return param switch
        {
            ExplainParam.W => dW.ToRowMajorArray(),
            ExplainParam.U => dU.ToRowMajorArray(),
            _ => db.ToArray(),
        };
    }

    /// <summary>∂s_t/∂s_k in the column convention (d×d, [j, i] = ∂s_t[j]/∂s_k[i]) as the product of the one-step Jacobians diag(σ'_j) Wᵀ.</summary>
    public Matrix<double> JacobianColumn(Vector<double>[] s, int k, int t)
    {
        var J = Matrix<double>.Build.DenseIdentity(W.RowCount);
        for (int j = k + 1; j <= t; j++) J = Matrix<double>.Build.DiagonalOfDiagonalVector(Deriv(s[j])) * W.Transpose() * J;
        return J;
    }

    public Matrix<double> WMatrix => W;

    /// <summary>A model trained as the lecture's toy example (ToyExampleTests): "deep\n", hidden 8, 300 adam steps, seed 3.</summary>
    public static async Task<(Tensors<double> Params, DistRnn.Data.Corpus Corpus)> TrainToy(string activation)
    {
        var corpus = TestUtil.CorpusOf("deep\n");
        var config = new TrainConfig
        {
            Hidden = 8, Seq = 4, Batch = 1, Steps = 300, Optimizer = "adam", Lr = 0.05, Clip = 5,
            Activation = activation, Precision = "float64", ValFrac = 0, Seed = 3,
        };
        return (await Train(config, corpus), corpus);
    }

    public static async Task<Tensors<double>> Train(TrainConfig config, DistRnn.Data.Corpus corpus)
    {
        var session = new TrainingSession<double>(config, corpus);
        using var computer = new SubtreeComputer<double>(Kernels.Default<double>(), 1);
        var source = new LocalGradientSource<double>(computer, session.Activation, corpus.Tokens, session.ShardCount);
        for (long step = 1; step <= config.Steps; step++)
            {
                using var sum = await source.ComputeAsync(step, session.Params, session.BatchFor(step), null, CancellationToken.None);
                session.Apply(sum.Sum);
            }
        return session.Params;
    }
}
