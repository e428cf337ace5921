using DistRnn.Coordinator.Checkpoints;
using ScottPlot;

namespace DistRnn.Coordinator.Output;

/// <summary>
/// Draws loss.png: training loss (every step) and validation loss (each measurement) against the step,
/// in nats per character. Written atomically, so a viewer that reloads it never sees half a file.
/// </summary>
public static class LossPlot
{
    public const int Width = 900, Height = 520;

    public static byte[] Render(LossHistory history, string title)
    {
        PlotFonts.EnsureRegistered();
        var plot = new Plot();
        var train = history.Train;
        if (train.Count > 0)
        {
            var line = plot.Add.ScatterLine(train.Select(p => (double)p.Step).ToArray(), train.Select(p => p.Loss).ToArray());
            line.LegendText = "training loss";
            line.LineWidth = 1.5f;
            line.Color = Colors.SteelBlue;
        }
        var val = history.Validation;
        if (val.Count > 0)
        {
            var points = plot.Add.Scatter(val.Select(p => (double)p.Step).ToArray(), val.Select(p => p.Loss).ToArray());
            points.LegendText = "validation loss";
            points.LineWidth = 2;
            points.MarkerSize = 7;
            points.Color = Colors.OrangeRed;
        }
        plot.Title(title);
        plot.XLabel("step");
        plot.YLabel("loss (nats per character)");
        if (train.Count + val.Count > 0) plot.ShowLegend(Alignment.UpperRight);
        return plot.GetImageBytes(Width, Height, ImageFormat.Png);
    }

    public static void Write(string path, LossHistory history, string title) => AtomicFile.Write(path, Render(history, title));
}
