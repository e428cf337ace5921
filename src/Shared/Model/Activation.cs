using System.Numerics;

namespace DistRnn.Model;

/// <summary>σ of the lecture: tanh (default) or the logistic sigmoid.</summary>
public enum Activation { Tanh, Sigmoid }

public static class ActivationExtensions
{
    public static string Name(this Activation a) => a == Activation.Tanh ? "tanh" : "sigmoid";

    public static bool TryParse(string? text, out Activation activation)
    {
        switch (text?.Trim().ToLowerInvariant())
        {
            case "tanh": activation = Activation.Tanh; return true;
            case "sigmoid": activation = Activation.Sigmoid; return true;
            default: activation = Activation.Tanh; return false;
        }
    }

    /// <summary>σ(a), computed in double by <see cref="DetMath"/> and rounded once to T.</summary>
    public static T Apply<T>(this Activation act, T a) where T : unmanaged, IFloatingPointIeee754<T>
    {
        double x = double.CreateTruncating(a);
        return T.CreateTruncating(act == Activation.Tanh ? DetMath.Tanh(x) : DetMath.Sigmoid(x));
    }

    /// <summary>σ'(a) expressed through s = σ(a): 1 − s² for tanh, s(1 − s) for the sigmoid.</summary>
    public static T DerivativeFromOutput<T>(this Activation act, T s) where T : unmanaged, IFloatingPointIeee754<T>
        => act == Activation.Tanh ? T.One - s * s : s * (T.One - s);
}
