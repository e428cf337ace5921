namespace DistRnn.Model;

/// <summary>Arithmetic of parameters and gradients.</summary>
public enum Precision { Float32, Float64 }

public static class PrecisionExtensions
{
    public static string Name(this Precision p) => p == Precision.Float32 ? "float32" : "float64";
    public static int Bytes(this Precision p) => p == Precision.Float32 ? 4 : 8;

    public static bool TryParse(string? text, out Precision precision)
    {
        switch (text?.Trim().ToLowerInvariant())
        {
            case "float32": precision = Precision.Float32; return true;
            case "float64": precision = Precision.Float64; return true;
            default: precision = Precision.Float32; return false;
        }
    }
}
