using DistRnn.Configuration;

namespace DistRnn.Coordinator.Training;

/// <summary>
/// The learning rate of step t (1-based, the session's step: a skipped non-finite step still advances it),
/// lr_t = lr · w(t) · s(t), a pure function of the configuration, the training split's length and t, so a
/// resumed run, a standby and the single-process loop all use the same rate without saving any of it.
/// <list type="bullet">
/// <item>warmup w(t) = t / W for t &lt; W (--warmup-steps W), else 1;</item>
/// <item>constant: s(t) = 1;</item>
/// <item>step (char-rnn's learning_rate_decay / learning_rate_decay_after): s(t) = γ^k(t), γ = --lr-decay. char-rnn
/// multiplies the rate by γ at the end of each epoch e ≥ A (A = --lr-decay-after). Here the period P is
/// --lr-decay-every steps, or with 0 char-rnn's epoch, E = ⌊train characters / (batch · seq)⌋ steps (its ntrain, at
/// least 1); so step t has seen k(t) = max(0, ⌊(t−1)/P⌋ − max(A, 1) + 1) decays (periods count from 1, so A = 0
/// decays from the end of the first period as A = 1 does);</item>
/// <item>cosine: s(t) = ½(1 + cos(π·(t−1−W)/(N−W))) for t &gt; W, N = --steps (1 during warmup), falling from 1
/// at the first step after warmup towards 0 at step N + 1. N is the run's --steps: a resume with another
/// --steps re-plans the rest of the curve (same --steps, same bits).</item>
/// </list>
/// With the constant schedule and no warmup the rate is exactly --lr (lr · 1 is exact), so such a run has the
/// bits it had before schedules existed.
/// </summary>
public sealed class LearningRateSchedule
{
    private const string Step = "step", Cosine = "cosine";

    private readonly double _lr, _decay;
    private readonly string _kind;
    private readonly long _warmup, _steps, _period, _decayAfter;

    public LearningRateSchedule(TrainConfig config, int trainLength)
    {
        _lr = config.Lr;
        _kind = config.LrSchedule;
        _warmup = config.WarmupSteps;
        _steps = config.Steps;
        _decay = config.LrDecay;
        _decayAfter = Math.Max(config.LrDecayAfter, 1);
        _period = config.LrDecayEvery > 0 ? config.LrDecayEvery : EpochSteps(trainLength, config.Batch, config.Seq);
    }

    /// <summary>char-rnn's ntrain: steps whose B·T predicted characters add up to the training split (at least 1).</summary>
    public static long EpochSteps(int trainLength, int batch, int seq) => Math.Max(1, trainLength / ((long)batch * seq));

    /// <summary>lr_t for step t ≥ 1.</summary>
    public double At(long t)
    {
        double s = _kind switch
        {
            Step => DecayPower(Math.Max(0, (t - 1) / _period - _decayAfter + 1)),
            Cosine => t <= _warmup ? 1.0 : HalfCosine((double)(t - 1 - _warmup) / (_steps - _warmup)),
            _ => 1.0,
        };
        double lr = _lr * s; // exactly _lr when s = 1
        return t < _warmup ? lr * t / _warmup : lr;
    }

    /// <summary>γ^k by repeated squaring: the same multiplications for the same k on every host (Math.Pow's bits depend on the platform's C library), O(log k).</summary>
    private double DecayPower(long k)
    {
        double result = 1.0, power = _decay;
        for (; k > 0; k >>= 1)
        {
            if ((k & 1) != 0) result *= power;
            power *= power;
        }
        return result;
    }

    /// <summary>
    /// ½(1 + cos(πx)) = cos²(θ), θ = πx/2 ∈ [0, π/2], for x in [0, 1], in plain IEEE arithmetic: Math.Cos calls the
    /// platform's libm, whose bits differ between hosts. θ above π/4 becomes sin(π/2 − θ), so each Taylor series
    /// (to the a^18 / a^19 term) runs on [0, π/4], where its truncation is below 1e−17.
    /// </summary>
    internal static double HalfCosine(double x)
    {
        const double HalfPi = 1.5707963267948966, QuarterPi = 0.7853981633974483;
        double theta = HalfPi * x;
        double c = theta <= QuarterPi ? CosSmall(theta) : SinSmall(HalfPi - theta);
        return c * c;
    }

    private static double CosSmall(double a)
    {
        double a2 = a * a, term = 1.0, sum = 1.0;
        for (int n = 1; n <= 9; n++) { term *= -a2 / ((2 * n - 1) * (2 * n)); sum += term; }
        return sum;
    }

    private static double SinSmall(double a)
    {
        double a2 = a * a, term = a, sum = a;
        for (int n = 1; n <= 9; n++) { term *= -a2 / ((2 * n) * (2 * n + 1)); sum += term; }
        return sum;
    }
}
