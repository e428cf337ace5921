using System.Security.Cryptography;

namespace DistRnn.Transport.DataChannel;

/// <summary>
/// What one registered worker needs to open its data channel: an id (which worker the connection claims to be)
/// and a key (never sent over the channel: both ends prove they hold it with an HMAC over fresh nonces). The
/// coordinator hands it to the worker over Akka, after registration, on the same (TLS) association.
/// </summary>
public sealed record DataTicket(byte[] Id, byte[] Key)
{
    public const int IdBytes = 16, KeyBytes = 32;

    public static DataTicket New() => new(RandomNumberGenerator.GetBytes(IdBytes), RandomNumberGenerator.GetBytes(KeyBytes));

    public bool IsWellFormed => Id is { Length: IdBytes } && Key is { Length: KeyBytes };

    public string IdHex => Convert.ToHexString(Id);
}
