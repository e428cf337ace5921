using ScottPlot;
using SkiaSharp;

namespace DistRnn.Coordinator.Output;

/// <summary>
/// Makes every plot use a font shipped inside the executable (an ASCII subset of DejaVu Sans, see
/// Output/Fonts/LICENSE-DejaVu.txt). SkiaSharp's Linux assets look for fonts in /usr/share/fonts only, and a
/// fresh Debian machine with just the .NET SDK has none there: without this, loss.png would have no labels.
/// </summary>
internal static class PlotFonts
{
    public const string Name = "DistRnn Sans";
    private const string Resource = "DistRnn.Coordinator.Output.Fonts.DejaVuSans-subset.ttf";
    private static readonly object Gate = new();
    private static bool _registered;

    public static void EnsureRegistered()
    {
        lock (Gate)
        {
            if (_registered) return;
            using var stream = typeof(PlotFonts).Assembly.GetManifestResourceStream(Resource)
                ?? throw new InvalidOperationException($"embedded font {Resource} is missing from the build");
            var bytes = new MemoryStream();
            stream.CopyTo(bytes);
            // From a copy in native memory: Skia reads glyphs lazily, long after the resource stream is gone.
            var typeface = SKTypeface.FromData(SKData.CreateCopy(bytes.ToArray())) ?? throw new InvalidOperationException("the embedded plot font cannot be read");
            Fonts.FontResolvers.Insert(0, new EmbeddedResolver(typeface));
            Fonts.Default = Name;
            _registered = true;
        }
    }

    /// <summary>Answers every font request with the embedded typeface (one face: the plots use no bold or italic that matters).</summary>
    private sealed class EmbeddedResolver(SKTypeface typeface) : IFontResolver
    {
        public SKTypeface? CreateTypeface(string fontName, bool bold, bool italic) => typeface;
        public SKTypeface? CreateTypeface(string fontName, FontWeight weight, FontSlant slant, FontSpacing spacing) => typeface;
    }
}
