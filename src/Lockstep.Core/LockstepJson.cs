using System.Text.Encodings.Web;
using System.Text.Json;

namespace Lockstep.Core;

/// <summary>
/// How Lockstep writes JSON: without HTML-safety escaping (documents are never embedded in HTML by
/// the server), so "+", "&lt;" and non-ASCII letters stay as they are and cost one to four bytes, not six.
/// </summary>
public static class LockstepJson
{
    /// <summary>The encoder every Lockstep JSON writer uses.</summary>
    public static JavaScriptEncoder Encoder => JavaScriptEncoder.UnsafeRelaxedJsonEscaping;

    /// <summary>Options for <c>JsonNode.ToJsonString</c> and serialization.</summary>
    public static JsonSerializerOptions Options { get; } = new() { Encoder = Encoder };

    /// <summary>Options for a <see cref="Utf8JsonWriter"/>.</summary>
    public static JsonWriterOptions WriterOptions { get; } = new() { Encoder = Encoder };
}
