using System.Numerics;
using DistRnn.Configuration;

namespace DistRnn.Coordinator.Training;

/// <summary>
/// An update rule on the flat parameter vector: p, state ← update(p, state, g, lr_t), a pure function, the rate
/// lr_t given by the caller (<see cref="LearningRateSchedule"/>). Its state (moment arrays, step counters) is
/// part of every checkpoint so a resume continues bit-identically. Powers like β^t are kept as running products
/// rather than Math.Pow, whose bits depend on the platform's C library.
/// </summary>
public abstract class Optimizer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public abstract string Name { get; }

    /// <summary>p ← update(p, g) at rate lr, g the mean per-character gradient after clipping.</summary>
    public abstract void Step(Span<T> p, ReadOnlySpan<T> g, double lr);

    /// <summary>Arrays of state, each as long as the parameter vector.</summary>
    public abstract IReadOnlyList<T[]> StateArrays { get; }

    /// <summary>Scalar state (e.g. β₁^t) as doubles.</summary>
    public abstract double[] StateScalars { get; set; }

    /// <summary>The configuration's update rule, with fresh state for <paramref name="count"/> parameters.</summary>
    public static Optimizer<T> Create(TrainConfig config, int count) => config.Optimizer switch
    {
        "sgd" => new Sgd<T>(),
        "adagrad" => new Adagrad<T>(count),
        "adam" => new Adam<T>(count),
        "rmsprop" => new RmsProp<T>(config.RmspropDecay, count),
        _ => throw new InputException($"--optimizer {config.Optimizer}: unknown optimiser (expected {TrainConfig.OptimizerList})"),
    };

    public static IReadOnlyList<string> Names => TrainConfig.Optimizers;
}

/// <summary>p ← p − lr·g.</summary>
public sealed class Sgd<T> : Optimizer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public override string Name => "sgd";

    public override void Step(Span<T> p, ReadOnlySpan<T> g, double lr)
    {
        T rate = T.CreateTruncating(lr);
        for (int i = 0; i < p.Length; i++) p[i] -= rate * g[i];
    }

    public override IReadOnlyList<T[]> StateArrays => [];
    public override double[] StateScalars { get => []; set { } }
}

/// <summary>PyTorch's Adagrad: G ← G + g²; p ← p − lr·g / (√G + 1e−10).</summary>
public sealed class Adagrad<T>(int count) : Optimizer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly T[] _sumSquares = new T[count];
    public override string Name => "adagrad";

    public override void Step(Span<T> p, ReadOnlySpan<T> g, double lr)
    {
        T rate = T.CreateTruncating(lr), eps = T.CreateTruncating(1e-10);
        for (int i = 0; i < p.Length; i++)
        {
            _sumSquares[i] += g[i] * g[i];
            p[i] -= rate * g[i] / (T.Sqrt(_sumSquares[i]) + eps);
        }
    }

    public override IReadOnlyList<T[]> StateArrays => [_sumSquares];
    public override double[] StateScalars { get => []; set { } }
}

/// <summary>
/// PyTorch's Adam (β₁ 0.9, β₂ 0.999, ε 1e−8): m ← β₁m + (1−β₁)g; v ← β₂v + (1−β₂)g²;
/// p ← p − (lr / (1−β₁^t)) · m / (√v / √(1−β₂^t) + ε).
/// </summary>
public sealed class Adam<T>(int count) : Optimizer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private const double Beta1 = 0.9, Beta2 = 0.999, Eps = 1e-8;
    private readonly T[] _m = new T[count], _v = new T[count];
    private double _beta1Power = 1.0, _beta2Power = 1.0;

    public override string Name => "adam";

    public override void Step(Span<T> p, ReadOnlySpan<T> g, double lr)
    {
        _beta1Power *= Beta1;
        _beta2Power *= Beta2;
        T b1 = T.CreateTruncating(Beta1), b2 = T.CreateTruncating(Beta2);
        T oneMinusB1 = T.CreateTruncating(1 - Beta1), oneMinusB2 = T.CreateTruncating(1 - Beta2);
        T stepSize = T.CreateTruncating(lr / (1 - _beta1Power));
        T biasCorrection2Sqrt = T.CreateTruncating(Math.Sqrt(1 - _beta2Power));
        T eps = T.CreateTruncating(Eps);
        for (int i = 0; i < p.Length; i++)
        {
            T gi = g[i];
            _m[i] = b1 * _m[i] + oneMinusB1 * gi;
            _v[i] = b2 * _v[i] + oneMinusB2 * gi * gi;
            T denom = T.Sqrt(_v[i]) / biasCorrection2Sqrt + eps;
            p[i] -= stepSize * _m[i] / denom;
        }
    }

    public override IReadOnlyList<T[]> StateArrays => [_m, _v];

    public override double[] StateScalars
    {
        get => [_beta1Power, _beta2Power];
        set { _beta1Power = value[0]; _beta2Power = value[1]; }
    }
}

/// <summary>
/// RMSProp as torch/optim's optim.rmsprop, which char-rnn uses (alpha = its decay_rate, 0.95; epsilon 1e−8 left at
/// optim's default; m starts at 0): m ← α·m + (1−α)·g²; p ← p − lr·g / (√m + ε), ε added after the square root.
/// Evaluated as (α·m) + ((1−α)·g)·g and p − (lr·g)/(√m + ε), 1−α rounded once from double.
/// </summary>
public sealed class RmsProp<T>(double decay, int count) : Optimizer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private const double Eps = 1e-8;
    private readonly T[] _meanSquare = new T[count];
    public override string Name => "rmsprop";

    public override void Step(Span<T> p, ReadOnlySpan<T> g, double lr)
    {
        T rate = T.CreateTruncating(lr), alpha = T.CreateTruncating(decay), oneMinusAlpha = T.CreateTruncating(1 - decay);
        T eps = T.CreateTruncating(Eps);
        for (int i = 0; i < p.Length; i++)
        {
            T gi = g[i];
            _meanSquare[i] = alpha * _meanSquare[i] + oneMinusAlpha * gi * gi;
            p[i] -= rate * gi / (T.Sqrt(_meanSquare[i]) + eps);
        }
    }

    public override IReadOnlyList<T[]> StateArrays => [_meanSquare];
    public override double[] StateScalars { get => []; set { } }
}
