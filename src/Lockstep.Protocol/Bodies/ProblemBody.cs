using System.Diagnostics.CodeAnalysis;
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
    /// <summary>Whether trying again later may succeed, as the body says; null when it says nothing (not a Lockstep server's answer, then).</summary>
    public bool? Transient { get; init; }

    /// <summary>A finer reason within the code, when the server gave one.</summary>
    public string? Reason { get; init; }

    /// <summary>The index of the op (or the partition, for a consumer group's commit) the refusal is about.</summary>
    public int? Op { get; init; }

    /// <summary>The document's current state, on a version conflict.</summary>
    public RawJson? Current { get; init; }

    /// <summary>True when the refusal is a replay of one recorded before.</summary>
    public bool Dup { get; init; }

    /// <summary>Reads a problem from a body's text; false unless it is one JSON object (through <see cref="JsonText"/>) with a non-empty string <c>code</c> (not a proxy's page, say).</summary>
    public static bool TryRead(string text, [NotNullWhen(true)] out ProblemBody? problem)
    {
        problem = null;
        if (string.IsNullOrEmpty(text) || !JsonText.TryParse(text, out var document, out _))
        {
            return false;
        }
        using (document)
        {
            return TryRead(document.RootElement, out problem);
        }
    }

    /// <summary>Reads a problem from a body's bytes, as <see cref="TryRead(string, out ProblemBody?)"/>.</summary>
    public static bool TryRead(ReadOnlyMemory<byte> body, [NotNullWhen(true)] out ProblemBody? problem)
    {
        problem = null;
        if (body.IsEmpty || !JsonText.TryParse(body, out var document, out _))
        {
            return false;
        }
        using (document)
        {
            return TryRead(document.RootElement, out problem);
        }
    }

    /// <summary>Reads a problem; false unless it is an object with a non-empty string <c>code</c>. Fields of the wrong type read as not said.</summary>
    public static bool TryRead(JsonElement body, [NotNullWhen(true)] out ProblemBody? problem)
    {
        problem = null;
        if (body.ValueKind != JsonValueKind.Object || !body.TryGetProperty("code", out var code) || JsonText.TryGetString(code) is not { Length: > 0 } text)
        {
            return false;
        }
        problem = new ProblemBody(text, String(body, "detail") ?? "")
        {
            Transient = body.TryGetProperty("transient", out var t) ? t.ValueKind == JsonValueKind.True : null,
            Reason = String(body, "reason"),
            Op = JsonBodies.TryInt32(body, "op", out var op) ? op : null,
            Current = body.TryGetProperty("current", out var current) && current.ValueKind is not (JsonValueKind.Null or JsonValueKind.Undefined) ? new RawJson(current.GetRawText()) : null,
            Dup = body.TryGetProperty("dup", out var dup) && dup.ValueKind == JsonValueKind.True,
        };
        return true;
    }

    private static string? String(JsonElement body, string name) =>
        body.TryGetProperty(name, out var value) ? JsonText.TryGetString(value) : null;
}
