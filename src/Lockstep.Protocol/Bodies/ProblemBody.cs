using System.Text.Json;

namespace Lockstep.Protocol;

/// <summary>
/// A REST refusal as Lockstep writes it (RFC 9457 problem+json, docs/errors.md): the stable <c>code</c>, the
/// <c>detail</c>, whether it is <c>transient</c>, and the details an error frame carries too (<c>reason</c>,
/// <c>op</c>, <c>current</c>, <c>dup</c>).
/// </summary>
/// <param name="Code">The error code (<see cref="ErrorCodes"/>).</param>
/// <param name="Detail">What went wrong, for people.</param>
public sealed record ProblemBody(string Code, string Detail)
{
    /// <summary>True when trying again later may succeed.</summary>
    public bool Transient { get; init; }

    /// <summary>A finer reason within the code, when the server gave one.</summary>
    public string? Reason { get; init; }

    /// <summary>The index of the op (or the partition, for a consumer group's commit) the refusal is about.</summary>
    public int? Op { get; init; }

    /// <summary>The document's current state, on a version conflict.</summary>
    public RawJson? Current { get; init; }

    /// <summary>True when the refusal is a replay of one recorded before.</summary>
    public bool Dup { get; init; }

    /// <summary>Reads a problem from a body's text; false unless it is a JSON object with a string <c>code</c> (a proxy's page, say).</summary>
    public static bool TryRead(string text, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out ProblemBody? problem)
    {
        problem = null;
        if (string.IsNullOrEmpty(text))
        {
            return false;
        }
        try
        {
            using var document = JsonDocument.Parse(text);
            return TryRead(document.RootElement, out problem);
        }
        catch (JsonException)
        {
            return false;
        }
    }

    /// <summary>Reads a problem; false unless it is an object with a string <c>code</c>.</summary>
    public static bool TryRead(JsonElement body, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out ProblemBody? problem)
    {
        problem = null;
        if (body.ValueKind != JsonValueKind.Object || !body.TryGetProperty("code", out var code) || code.ValueKind != JsonValueKind.String)
        {
            return false;
        }
        problem = new ProblemBody(code.GetString()!, String(body, "detail") ?? "")
        {
            Transient = body.TryGetProperty("transient", out var t) && t.ValueKind == JsonValueKind.True,
            Reason = String(body, "reason"),
            Op = JsonBodies.TryInt32(body, "op", out var op) ? op : null,
            Current = body.TryGetProperty("current", out var current) && current.ValueKind is not (JsonValueKind.Null or JsonValueKind.Undefined) ? new RawJson(current.GetRawText()) : null,
            Dup = body.TryGetProperty("dup", out var dup) && dup.ValueKind == JsonValueKind.True,
        };
        return true;
    }

    private static string? String(JsonElement body, string name) =>
        body.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;
}
