using System.Globalization;
using System.Text.Json;
using Lockstep.Protocol;

namespace Lockstep.Client;

/// <summary>
/// The request ids this client chooses, all strings: <c>h</c> the hello, <c>s:&lt;sub&gt;</c> a subscription,
/// <c>m&lt;mid&gt;</c> a write (so its answer finds the write after any reconnect), <c>u…</c> and <c>p…</c> the rest.
/// </summary>
internal static class RequestIds
{
    public const string Hello = "h";
    public const string Subscribe = "s:";
    public const string Unsubscribe = "u";
    public const string Ping = "p";
    private const string Write = "m";

    /// <summary>The id of the write numbered <paramref name="mid"/>.</summary>
    public static RawJson ForWrite(long mid) => RawJson.FromString(Write + mid.ToString(CultureInfo.InvariantCulture));

    /// <summary>An id as the string it is; null when absent or not a string (no id of this client's).</summary>
    public static string? Text(RawJson? id)
    {
        if (id is not { } raw || raw.Json.Length == 0 || raw.Json[0] != '"')
        {
            return null;
        }
        try
        {
            var reader = new Utf8JsonReader(System.Text.Encoding.UTF8.GetBytes(raw.Json));
            return reader.Read() && reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>The mutation number of a write's id, or null when the id is not a write's.</summary>
    public static long? MidOf(RawJson? id) =>
        Text(id) is { } text && text.StartsWith(Write, StringComparison.Ordinal)
            && long.TryParse(text.AsSpan(Write.Length), NumberStyles.None, CultureInfo.InvariantCulture, out var mid) ? mid : null;
}
