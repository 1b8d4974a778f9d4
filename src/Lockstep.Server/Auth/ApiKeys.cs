using System.Security.Cryptography;
using System.Text;

namespace Lockstep.Server;

/// <summary>
/// Makes and hashes API keys. A key is <c>lsk_</c> and 32 random bytes in base64url: with that much
/// entropy a fast hash is safe to store (no dictionary to guess from), so keys are kept as SHA-256.
/// </summary>
public static class ApiKeys
{
    /// <summary>The prefix that tells an API key from a JWT.</summary>
    public const string Prefix = "lsk_";

    /// <summary>A new random key.</summary>
    public static string Generate() => Prefix + Base64Url(RandomNumberGenerator.GetBytes(32));

    /// <summary>The hash to configure for a key: <c>sha256:</c> and 64 lowercase hex digits.</summary>
    public static string Hash(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        return "sha256:" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));
    }

    private static string Base64Url(byte[] bytes) =>
        Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
