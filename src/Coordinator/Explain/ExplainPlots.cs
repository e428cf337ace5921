using DistRnn.Coordinator.Output;
using DistRnn.Model;
using ScottPlot;

namespace DistRnn.Coordinator.Explain;

/// <summary>
/// The two pictures of `explain`, as PNG bytes (the command writes them atomically): paths.png, the T×T
/// lower-triangular heatmap of log₁₀‖C[t][k]‖, and decay.png, the mean log₁₀ of ‖∂s_t/∂s_k‖ and of ‖C[t][k]‖
/// against the distance t − k. Labels are ASCII: the embedded font (PlotFonts) is an ASCII subset.
/// </summary>
public static class ExplainPlots
{
    /// <summary>Up to this many steps every cell is one (t, k) and the axes show the text's characters; longer texts are binned.</summary>
    public const int MaxCells = 100;

    /// <summary>A character as an axis label in the plot font: \n, sp for a space, ? outside printable ASCII.</summary>
    public static string Label(string symbol) => symbol switch
    {
        "\n" => "\\n",
        "\t" => "\\t",
        "\r" => "\\r",
        " " => "sp",
        _ when symbol.Length == 1 && symbol[0] > ' ' && symbol[0] < 127 => symbol,
        _ => "?",
    };

    /// <summary>The binned heatmap: cell [r, c] is the mean log₁₀‖C[t][k]‖ over the pairs k ≤ t of the bin (NaN: none, or all zero). Bin = steps per cell.</summary>
    public static (double[,] Cells, int Bin) HeatmapCells(PathReport r)
    {
        int T = r.T, bin = (T + MaxCells - 1) / MaxCells, n = (T + bin - 1) / bin;
        var sum = new double[n, n]; var count = new int[n, n];
        for (int t = 1; t <= T; t++)
            for (int k = 1; k <= t; k++)
            {
                double v = r.ContributionNorms[t - 1][k - 1];
                if (!(v > 0) || !double.IsFinite(v)) continue;
                sum[(t - 1) / bin, (k - 1) / bin] += Math.Log10(v);
                count[(t - 1) / bin, (k - 1) / bin]++;
            }
        var cells = new double[n, n];
        for (int i = 0; i < n; i++) for (int j = 0; j < n; j++) cells[i, j] = count[i, j] > 0 ? sum[i, j] / count[i, j] : double.NaN;
        return (cells, bin);
    }

    public static byte[] RenderPaths(PathReport r, IReadOnlyList<string> symbols)
    {
        PlotFonts.EnsureRegistered();
        var (cells, bin) = HeatmapCells(r);
        int n = cells.GetLength(0);
        var plot = new Plot();
        // ScottPlot needs one finite cell to find the colour range: when every contribution is exactly 0, draw zeros, all transparent.
        bool none = !cells.Cast<double>().Any(double.IsFinite);
        var hm = plot.Add.Heatmap(none ? new double[n, n] : cells); // row 0 (t = 1) at the top
        if (none) hm.AlphaMap = new byte[n, n];
        hm.Colormap = new ScottPlot.Colormaps.Viridis();
        hm.Rectangle = new CoordinateRect(0.5, n + 0.5, 0.5, n + 0.5);
        hm.NaNCellColor = Colors.White;
        var bar = plot.Add.ColorBar(hm);
        bar.Label = $"log10 ||C[t][k]||_F";

        string p = r.Param.Name();
        // Row i sits at y = n − i; column j at x = j + 1.
        var xs = new List<double>(); var xl = new List<string>(); var ys = new List<double>(); var yl = new List<string>();
        if (bin == 1)
        {
            for (int i = 0; i < n; i++)
            {
                // step t reads x_t = text[t−1] and predicts text[t]
                string input = Label(symbols[r.Tokens[i]]);
                xs.Add(i + 1); xl.Add(input);
                ys.Add(n - i); yl.Add($"{Label(symbols[r.Tokens[i]])}>{Label(symbols[r.Tokens[i + 1]])}");
            }
        }
        else
        {
            int every = Math.Max(1, n / 10);
            for (int i = 0; i < n; i += every)
            {
                xs.Add(i + 1); xl.Add($"{i * bin + 1}");
                ys.Add(n - i); yl.Add($"{i * bin + 1}");
            }
        }
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(xs.ToArray(), xl.ToArray());
        plot.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericManual(ys.ToArray(), yl.ToArray());
        plot.Axes.SetLimits(0.5, n + 0.5, 0.5, n + 0.5);
        plot.HideGrid();
        string binned = (bin == 1 ? "" : $"\nbinned: each cell is the mean of log10 over {bin}x{bin} steps; ticks are step numbers")
            + (none ? "\nevery contribution is exactly 0" : "");
        plot.Title($"Path contributions to dL_t/d{p} (T = {r.T}, {r.Activation.Name()}, hidden {r.Hidden})\nC[t][k] = dL_t/ds_t . ds_t/ds_k . d+s_k/d{p}{binned}");
        string zeroNote = r.Param == ExplainParam.W ? "; k = 1 is 0 (s_0 = 0)" : "";
        plot.XLabel((bin == 1 ? "k: where the path starts (input x_k)" : "k: where the path starts") + zeroNote);
        plot.YLabel(bin == 1 ? "t: the loss L_t (input > target)" : "t: the loss L_t");
        int px = Math.Clamp(14 * n + 260, 800, 1700);
        return plot.GetImageBytes(px, px - 80, ImageFormat.Png);
    }

    public static byte[] RenderDecay(PathReport r)
    {
        PlotFonts.EnsureRegistered();
        var plot = new Plot();
        var distance = Enumerable.Range(0, r.T).Select(i => (double)i).ToArray();
        void Line(double[] y, string legend, Color color, LinePattern pattern)
        {
            var keep = Enumerable.Range(0, y.Length).Where(i => double.IsFinite(y[i])).ToArray();
            if (keep.Length == 0) return;
            var s = plot.Add.Scatter(keep.Select(i => distance[i]).ToArray(), keep.Select(i => y[i]).ToArray());
            s.LegendText = legend;
            s.Color = color;
            s.LineWidth = 2;
            s.MarkerSize = r.T <= 40 ? 5 : 0;
            s.LinePattern = pattern;
        }
        string p = r.Param.Name();
        Line(PathReport.MeanLog10ByDistance(r.JacobianSpectral), "mean log10 ||ds_t/ds_k||_2 (spectral)", Colors.SteelBlue, LinePattern.Solid);
        Line(PathReport.MeanLog10ByDistance(r.JacobianFrobenius), "mean log10 ||ds_t/ds_k||_F", Colors.SteelBlue, LinePattern.Dashed);
        Line(PathReport.MeanLog10ByDistance(r.ContributionNorms), $"mean log10 ||C[t][k]||_F (paths into dL/d{p})", Colors.OrangeRed, LinePattern.Solid);
        var zero = plot.Add.HorizontalLine(0);
        zero.Color = Colors.Gray;
        zero.LineWidth = 1;
        plot.Title($"Vanishing or exploding: the gradient through t - k steps ({r.Activation.Name()}, hidden {r.Hidden}, T = {r.T})");
        plot.XLabel("distance t - k (steps)");
        plot.YLabel("log10 norm");
        plot.ShowLegend(Alignment.UpperRight);
        return plot.GetImageBytes(900, 520, ImageFormat.Png);
    }
}
