namespace DistRnn.Transport.DataChannel;

public enum DataChannelMode
{
    /// <summary>The data channel carries the tensors (the default).</summary>
    On,
    /// <summary>Every tensor goes over Akka (for comparisons).</summary>
    Off,
    /// <summary>On, and with a secret and no TLS its frames are signed over loopback too (<see cref="DataChannelLimits.SignsFrames"/>): to measure what the MACs cost, and to test them on one host.</summary>
    Signed,
}

/// <summary>
/// <c>DISTRNN_DATA_CHANNEL</c> = on | off | signed (unset = on), read by the coordinator and by every worker; a worker
/// process needs the same value as its coordinator for <c>signed</c> (else their frames do not match, the channel
/// closes and the tensors go over Akka, to the same bits).
/// </summary>
public static class DataChannelSwitch
{
    public const string Variable = "DISTRNN_DATA_CHANNEL";

    /// <summary>The mode the environment asks for; throws <see cref="InputException"/> naming the variable for any other value.</summary>
    public static DataChannelMode Read()
    {
        var value = Environment.GetEnvironmentVariable(Variable);
        if (string.IsNullOrEmpty(value) || value.Equals("on", StringComparison.OrdinalIgnoreCase)) return DataChannelMode.On;
        if (value.Equals("off", StringComparison.OrdinalIgnoreCase)) return DataChannelMode.Off;
        if (value.Equals("signed", StringComparison.OrdinalIgnoreCase)) return DataChannelMode.Signed;
        throw new InputException($"{Variable}={DistRnn.Data.Vocabulary.Escape(value)}: expected on, off or signed (unset = on)");
    }

    /// <summary>The limits of a run's data channel of <paramref name="wireValues"/> values a frame, as the environment asks.</summary>
    public static DataChannelLimits Limits(int wireValues) => new(wireValues, SignLoopback: Read() == DataChannelMode.Signed);
}
