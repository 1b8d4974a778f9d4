using System.Text.Json;

namespace Lockstep.Protocol;

/// <summary>
/// Reads the requests of docs/protocol.md from their JSON object — a socket frame in either encoding (a
/// MessagePack frame through its canonical JSON spelling) and the bodies REST shares with them — checking each
/// field in the order the protocol gives its refusals, into the frame records. The one place a request is parsed.
/// </summary>
public static class RequestReader
{
    /// <summary>The one version of docs/protocol.md this code speaks.</summary>
    public const int ProtocolVersion = 1;

    /// <summary>The longest subscription name.</summary>
    public const int MaxSubscriptionNameLength = 64;

    /// <summary>Checks a subscription whose name and collection are sound (its filter: the caller compiles it); null when it passes.</summary>
    public delegate RequestError? SubscriptionCheck(SubscriptionSpec subscription, JsonElement filter);

    /// <summary>
    /// A frame through the one JSON door (<see cref="JsonText"/>). On a defect: the error — <c>bad_frame</c>, or
    /// <c>invalid_document</c> for a number beyond a double — and, when the frame is well-formed JSON with a
    /// sound <c>id</c>, that id, so the request it was meant to be gets its answer.
    /// </summary>
    public static JsonDocument? TryOpen(ReadOnlyMemory<byte> frame, out RequestError? error, out JsonElement id)
    {
        error = null;
        id = default;
        if (!JsonText.TryParse(frame, out var doc, out var defect))
        {
            error = new RequestError(defect.Defect == JsonDefect.Number ? ErrorCodes.InvalidDocument : ErrorCodes.BadFrame, defect.Message);
            if (defect.Defect != JsonDefect.Syntax)
            {
                id = SoundId(frame);
            }
            return null;
        }
        if (doc.RootElement.ValueKind != JsonValueKind.Object)
        {
            doc.Dispose();
            error = new RequestError(ErrorCodes.BadFrame, "A frame is one JSON object.");
            return null;
        }
        return doc;
    }

    /// <summary>The <c>id</c> of a well-formed frame that did not pass the door: a number, or a string that is text; else none.</summary>
    private static JsonElement SoundId(ReadOnlyMemory<byte> frame)
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

    /// <summary>The frame's type, <c>t</c>, or null when it has none that is a string.</summary>
    public static string? Type(JsonElement root) => GetString(root, "t");

    /// <summary>The request's <c>id</c> when it is a number or a string; else undefined.</summary>
    public static JsonElement RequestId(JsonElement root) =>
        root.TryGetProperty("id", out var id) && id.ValueKind is JsonValueKind.Number or JsonValueKind.String ? id.Clone() : default;

    /// <summary>A string field, or null when it is absent or not a string.</summary>
    public static string? GetString(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    /// <summary>Why <paramref name="what"/> (<c>'clientId'</c>, a header's name) is refused when <see cref="Names.IsValidClientId"/> is false.</summary>
    public static string InvalidClientIdMessage(string what) => what + " must be a string of 1 to 128 characters, none of them control characters.";

    /// <summary>
    /// A <c>hello</c>'s fields, checked in the protocol's order (§3, "A refused hello"): <c>clientId</c>, <c>cursor</c>,
    /// <c>protocol</c>, then each entry of <c>subs</c> (as a <c>sub</c>, then <paramref name="check"/>) and duplicate names.
    /// </summary>
    public static bool TryReadHello(JsonElement root, SubscriptionCheck check, out HelloFrame? hello, out RequestError? error)
    {
        ArgumentNullException.ThrowIfNull(check);
        hello = null;
        error = null;
        string? clientId = null;
        long? cursor = null;
        int? protocol = null;
        if (root.TryGetProperty("clientId", out var cid) && cid.ValueKind != JsonValueKind.Null)
        {
            clientId = cid.ValueKind == JsonValueKind.String ? cid.GetString() : null;
            if (!Names.IsValidClientId(clientId))
            {
                error = RequestError.Invalid(InvalidClientIdMessage("'clientId'"));
                return false;
            }
        }
        if (root.TryGetProperty("cursor", out var cur) && cur.ValueKind != JsonValueKind.Null)
        {
            if (cur.ValueKind != JsonValueKind.Number || !cur.TryGetInt64(out var c) || c < 0)
            {
                error = RequestError.Invalid("'cursor' must be a non-negative integer.");
                return false;
            }
            cursor = c;
        }
        if (root.TryGetProperty("protocol", out var version) && version.ValueKind != JsonValueKind.Null)
        {
            if (version.ValueKind != JsonValueKind.Number)
            {
                error = RequestError.Invalid("'protocol' must be a number, the protocol version.");
                return false;
            }
            // Refused rather than ignored: a client of another version would misread every frame after the welcome.
            if (!version.TryGetDecimal(out var asked) || asked != ProtocolVersion)
            {
                error = new RequestError(ErrorCodes.UnsupportedProtocol, $"This server speaks protocol version {ProtocolVersion} only, not {version.GetRawText()}.");
                return false;
            }
            protocol = ProtocolVersion;
        }
        List<SubscriptionSpec>? subs = null;
        if (root.TryGetProperty("subs", out var list) && list.ValueKind != JsonValueKind.Null)
        {
            if (cursor is null || list.ValueKind != JsonValueKind.Array)
            {
                error = RequestError.Invalid("'subs' is an array, and goes with 'cursor'.");
                return false;
            }
            subs = [];
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var item in list.EnumerateArray())
            {
                if (!TryReadSubscription(item, out var sub, out var filter, out error) || (error = check(sub!, filter)) is not null)
                {
                    return false;
                }
                if (!seen.Add(sub!.Sub))
                {
                    error = new RequestError(ErrorCodes.DuplicateSubscription, $"Subscription '{sub.Sub}' appears twice.");
                    return false;
                }
                subs.Add(sub);
            }
        }
        hello = new HelloFrame(NullableId(root))
        {
            ClientId = clientId,
            Cursor = cursor,
            Subs = subs,
            Token = GetString(root, "token"),
            Protocol = protocol,
        };
        return true;
    }

    /// <summary>
    /// A subscription (<c>sub</c>, or an entry of <c>hello.subs</c>): its name and collection checked, its
    /// <paramref name="filter"/> handed back as it came (undefined when absent) for the caller to compile.
    /// </summary>
    public static bool TryReadSubscription(JsonElement element, out SubscriptionSpec? subscription, out JsonElement filter, out RequestError? error)
    {
        subscription = null;
        filter = default;
        error = null;
        if (element.ValueKind != JsonValueKind.Object)
        {
            error = RequestError.Invalid("A subscription is a JSON object.");
            return false;
        }
        var sub = GetString(element, "sub");
        var collection = GetString(element, "collection");
        if (string.IsNullOrEmpty(sub) || sub.Length > MaxSubscriptionNameLength)
        {
            error = RequestError.Invalid($"'sub' must be a string of 1 to {MaxSubscriptionNameLength} characters.");
            return false;
        }
        if (!Names.IsValidCollection(collection))
        {
            error = RequestError.Invalid($"'collection' must be a valid collection name, not '{collection ?? "missing"}'.");
            return false;
        }
        element.TryGetProperty("filter", out filter);
        subscription = new SubscriptionSpec(sub, collection,
            filter.ValueKind is JsonValueKind.Undefined or JsonValueKind.Null ? null : new RawJson(filter.GetRawText()));
        return true;
    }

    /// <summary>An <c>unsub</c>'s subscription name.</summary>
    public static bool TryReadUnsubscribe(JsonElement root, out UnsubscribeFrame? unsubscribe, out RequestError? error)
    {
        var sub = GetString(root, "sub");
        unsubscribe = string.IsNullOrEmpty(sub) ? null : new UnsubscribeFrame(NullableId(root), sub);
        error = unsubscribe is null ? RequestError.Invalid("'sub' is required.") : null;
        return unsubscribe is not null;
    }

    /// <summary>A write's <c>mid</c>: absent, or a positive integer.</summary>
    public static bool TryReadMid(JsonElement root, out long? mid, out RequestError? error)
    {
        mid = null;
        error = null;
        if (!root.TryGetProperty("mid", out var m) || m.ValueKind == JsonValueKind.Null)
        {
            return true;
        }
        if (m.ValueKind != JsonValueKind.Number || !m.TryGetInt64(out var n) || n <= 0)
        {
            error = RequestError.Invalid("'mid' must be a positive integer.");
            return false;
        }
        mid = n;
        return true;
    }

    /// <summary>A <c>mut</c>'s ops (after its <c>mid</c>, read with <see cref="TryReadMid"/>).</summary>
    public static bool TryReadMutate(JsonElement root, long? mid, int maxOps, out MutateFrame? mutate, out RequestError? error)
    {
        mutate = null;
        if (!root.TryGetProperty("ops", out var ops))
        {
            error = RequestError.Invalid("'ops' is required.");
            return false;
        }
        if (!MutationReader.TryReadOps(ops, maxOps, out var list, out error))
        {
            return false;
        }
        mutate = new MutateFrame(NullableId(root), mid, list);
        return true;
    }

    /// <summary>A <c>call</c>'s mutator name and arguments (after its <c>mid</c>).</summary>
    public static bool TryReadCall(JsonElement root, long? mid, out CallFrame? call, out RequestError? error)
    {
        var name = GetString(root, "name");
        if (string.IsNullOrEmpty(name))
        {
            call = null;
            error = RequestError.Invalid("'name' (the mutator) is required.");
            return false;
        }
        error = null;
        call = new CallFrame(NullableId(root), mid, name, root.TryGetProperty("args", out var a) ? new RawJson(a.GetRawText()) : null);
        return true;
    }

    private static RawJson? NullableId(JsonElement root)
    {
        var id = RequestId(root);
        return id.ValueKind == JsonValueKind.Undefined ? null : new RawJson(id.GetRawText());
    }
}
