namespace Lockstep.Protocol;

/// <summary>
/// A JSON value carried through a frame as its text — a document, a delta's <c>set</c>, a filter, a request
/// id. The engine keeps documents as JSON text, so the JSON codec writes it as it is and the MessagePack codec
/// spells it in MessagePack's types (docs/protocol.md §11, "Values").
/// </summary>
/// <param name="Json">The value's JSON text; not checked here (the writer of a frame vouches for it).</param>
public readonly record struct RawJson(string Json)
{
    /// <summary>A JSON number.</summary>
    public static RawJson Number(long value) => new(value.ToString(System.Globalization.CultureInfo.InvariantCulture));

    /// <summary>A JSON string.</summary>
    public static RawJson FromString(string value) => new(System.Text.Json.JsonSerializer.Serialize(value, JsonCodecText.SerializerOptions));

    /// <inheritdoc />
    public override string ToString() => Json;
}
