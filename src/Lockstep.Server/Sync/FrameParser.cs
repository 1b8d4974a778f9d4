using System.Text.Json;
using Lockstep.Core;
using Lockstep.Protocol;

namespace Lockstep.Server;

/// <summary>
/// Reads the socket's frames into requests, without a session: a frame through the one JSON door (and the
/// <c>id</c> of one refused there), a request's <c>id</c>, a <c>hello</c> and a subscription — each refusal a
/// <see cref="Rejection"/> with the code docs/protocol.md gives it.
/// </summary>
internal static class FrameParser
{
    /// <summary>The one version of docs/protocol.md this server speaks.</summary>
    public const int ProtocolVersion = 1;

    public static bool TryParseHello(JsonElement root, FilterLimits limits, out string? clientId, out long? cursor, out List<Subscription> subs, out Rejection? rejection)
    {
        clientId = null;
        cursor = null;
        subs = [];
        rejection = null;
        if (root.TryGetProperty("clientId", out var cid) && cid.ValueKind != JsonValueKind.Null)
        {
            clientId = cid.ValueKind == JsonValueKind.String ? cid.GetString() : null;
            if (!Names.IsValidClientId(clientId))
            {
                rejection = RequestParser.Invalid(RequestParser.InvalidClientIdMessage("'clientId'"));
                return false;
            }
        }
        if (root.TryGetProperty("cursor", out var cur) && cur.ValueKind != JsonValueKind.Null)
        {
            if (cur.ValueKind != JsonValueKind.Number || !cur.TryGetInt64(out var c) || c < 0)
            {
                rejection = RequestParser.Invalid("'cursor' must be a non-negative integer.");
                return false;
            }
            cursor = c;
        }
        if (root.TryGetProperty("protocol", out var version) && version.ValueKind != JsonValueKind.Null)
        {
            if (version.ValueKind != JsonValueKind.Number)
            {
                rejection = RequestParser.Invalid("'protocol' must be a number, the protocol version.");
                return false;
            }
            // Refused rather than ignored: a client of another version would misread every frame after the welcome.
            if (!version.TryGetDecimal(out var asked) || asked != ProtocolVersion)
            {
                rejection = new Rejection(ErrorCodes.UnsupportedProtocol, $"This server speaks protocol version {ProtocolVersion} only, not {version.GetRawText()}.");
                return false;
            }
        }
        if (root.TryGetProperty("subs", out var list) && list.ValueKind != JsonValueKind.Null)
        {
            if (cursor is null || list.ValueKind != JsonValueKind.Array)
            {
                rejection = RequestParser.Invalid("'subs' is an array, and goes with 'cursor'.");
                return false;
            }
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var item in list.EnumerateArray())
            {
                if (!TryParseSubscription(item, limits, out var sub, out rejection))
                {
                    return false;
                }
                if (!seen.Add(sub!.Id))
                {
                    rejection = new Rejection(ErrorCodes.DuplicateSubscription, $"Subscription '{sub.Id}' appears twice.");
                    return false;
                }
                subs.Add(sub);
            }
        }
        return true;
    }

    public static bool TryParseSubscription(JsonElement element, FilterLimits limits, out Subscription? subscription, out Rejection? rejection)
    {
        subscription = null;
        rejection = null;
        if (element.ValueKind != JsonValueKind.Object)
        {
            rejection = RequestParser.Invalid("A subscription is a JSON object.");
            return false;
        }
        var sub = RequestParser.GetString(element, "sub");
        var collection = RequestParser.GetString(element, "collection");
        if (string.IsNullOrEmpty(sub) || sub.Length > 64)
        {
            rejection = RequestParser.Invalid("'sub' must be a string of 1 to 64 characters.");
            return false;
        }
        if (!Names.IsValidCollection(collection))
        {
            rejection = RequestParser.Invalid($"'collection' must be a valid collection name, not '{collection ?? "missing"}'.");
            return false;
        }
        var filter = Filter.All;
        if (element.TryGetProperty("filter", out var f) && !Filter.TryParse(f, limits, out filter, out rejection))
        {
            return false;
        }
        subscription = new Subscription(sub, collection, filter);
        return true;
    }

    public static JsonElement RequestId(JsonElement root) =>
        root.TryGetProperty("id", out var id) && id.ValueKind is JsonValueKind.Number or JsonValueKind.String ? id.Clone() : default;

    /// <summary>
    /// A frame through the one JSON door (<see cref="JsonText"/>). On a defect: the rejection —
    /// <c>bad_frame</c>, or <c>invalid_document</c> for a number beyond a double — and, when the frame is
    /// well-formed JSON with a sound <c>id</c>, that id, so the request it was meant to be gets its answer.
    /// </summary>
    public static JsonDocument? TryParse(ReadOnlyMemory<byte> frame, out Rejection? rejection, out JsonElement id)
    {
        rejection = null;
        id = default;
        if (!JsonText.TryParse(frame, out var doc, out var error))
        {
            rejection = new Rejection(error.Defect == JsonDefect.Number ? ErrorCodes.InvalidDocument : ErrorCodes.BadFrame, error.Message);
            if (error.Defect != JsonDefect.Syntax)
            {
                id = SoundId(frame);
            }
            return null;
        }
        if (doc.RootElement.ValueKind != JsonValueKind.Object)
        {
            doc.Dispose();
            rejection = new Rejection(ErrorCodes.BadFrame, "A frame is one JSON object.");
            return null;
        }
        return doc;
    }

    /// <summary>The <c>id</c> of a well-formed frame that did not pass the door: a number, or a string that is text; else none.</summary>
    public static JsonElement SoundId(ReadOnlyMemory<byte> frame)
    {
        try
        {
            using var doc = JsonDocument.Parse(frame);
            return doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("id", out var id)
                && (id.ValueKind == JsonValueKind.Number ? id.TryGetDouble(out var n) && double.IsFinite(n) : JsonText.TryGetString(id) is not null)
                ? id.Clone()
                : default;
        }
        catch (Exception e) when (e is InvalidOperationException or JsonException)
        {
            // Looking a name up unescapes the names before it, and a lone surrogate in one of them throws;
            // the door reports such defects for well-formed JSON only, but an answer without an id beats a 1011.
            return default;
        }
    }
}
