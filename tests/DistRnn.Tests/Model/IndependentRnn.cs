using MathNet.Numerics.LinearAlgebra;

namespace DistRnn.Tests.Model;

/// <summary>
/// A second, independent float64 implementation of the model for the tests: MathNet matrices and
/// Math.Tanh/Math.Exp instead of the project's loops and DetMath.
/// </summary>
internal sealed class IndependentRnn(Matrix<double> U, Matrix<double> W, Matrix<double> V, Vector<double> b, Vector<double> c, bool tanh)
{
    public static IndependentRnn From(DistRnn.Model.Tensors<double> p, bool tanh)
    {
        int k = p.Shape.K, d = p.Shape.D;
        var M = Matrix<double>.Build; var Vb = Vector<double>.Build;
        return new IndependentRnn(
            M.Dense(k, d, (i, j) => p.U[i * d + j]), M.Dense(d, d, (i, j) => p.W[i * d + j]),
            M.Dense(d, k, (i, j) => p.V[i * k + j]), Vb.DenseOfArray(p.B.ToArray()), Vb.DenseOfArray(p.C.ToArray()), tanh);
    }

    private double Sigma(double a) => tanh ? Math.Tanh(a) : 1 / (1 + Math.Exp(-a));

    public (double Loss, Matrix<double> dU, Matrix<double> dW, Matrix<double> dV, Vector<double> db, Vector<double> dc) Grad(int[] tokens)
    {
        int T = tokens.Length - 1, d = W.RowCount, k = c.Count;
        var s = new Vector<double>[T + 1];
        var y = new Vector<double>[T + 1];
        s[0] = Vector<double>.Build.Dense(d);
        double loss = 0;
        for (int t = 1; t <= T; t++)
        {
            var a = U.Row(tokens[t - 1]) + W.TransposeThisAndMultiply(s[t - 1]) + b;
            s[t] = a.Map(Sigma);
            var z = V.TransposeThisAndMultiply(s[t]) + c;
            double max = z.Maximum();
            var e = z.Map(v => Math.Exp(v - max));
            y[t] = e / e.Sum();
            loss -= Math.Log(y[t][tokens[t]]);
        }
        var dU = Matrix<double>.Build.Dense(k, d); var dW = Matrix<double>.Build.Dense(d, d);
        var dV = Matrix<double>.Build.Dense(d, k); var db = Vector<double>.Build.Dense(d); var dc = Vector<double>.Build.Dense(k);
        var daNext = Vector<double>.Build.Dense(d);
        for (int t = T; t >= 1; t--)
        {
            var dz = y[t].Clone(); dz[tokens[t]] -= 1;
            dV += s[t].OuterProduct(dz);
            dc += dz;
            var ds = V * dz + W * daNext;
            var deriv = tanh ? s[t].Map(v => 1 - v * v) : s[t].Map(v => v * (1 - v));
            var da = ds.PointwiseMultiply(deriv);
            dU.SetRow(tokens[t - 1], dU.Row(tokens[t - 1]) + da);
            db += da;
            dW += s[t - 1].OuterProduct(da);
            daNext = da;
        }
        return (loss, dU, dW, dV, db, dc);
    }
}
