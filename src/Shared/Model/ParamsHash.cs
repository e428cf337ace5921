using System.Numerics;
using System.Security.Cryptography;

namespace DistRnn.Model;

/// <summary>params_sha256: SHA-256 of U, W, V, b, c in that order, row-major, little-endian IEEE-754 in the training precision.</summary>
public static class ParamsHash
{
    public static string Sha256<T>(Tensors<T> p) where T : unmanaged, IFloatingPointIeee754<T>
        => Convert.ToHexStringLower(SHA256.HashData(TensorBytes.ToBytes<T>(p.Data)));
}
