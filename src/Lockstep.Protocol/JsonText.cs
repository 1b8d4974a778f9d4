using System.Diagnostics.CodeAnalysis;
using System.Text.Json;
using System.Text.Unicode;

namespace Lockstep.Protocol;

/// <summary>
/// The one door through which JSON from a caller comes in — socket frames, REST bodies, filters in
/// query strings. Past it every string and field name decodes to valid UTF-16 and every number is a
/// finite double, so nothing behind it can meet an exception from <see cref="JsonElement.GetString"/>
/// (a lone surrogate) or store a number no reader can read back (<c>1e400</c>).
/// </summary>
public static class JsonText
{
    /// <summary>The deepest nesting the parser accepts; documents are held to less (32) by their own rule.</summary>
    public const int MaxDepth = 64;

    private static readonly JsonDocumentOptions DocumentOptions = new() { MaxDepth = MaxDepth, AllowDuplicateProperties = false };

    /// <summary>
    /// Parses <paramref name="utf8"/> into a document, refusing syntax errors, duplicate field names,
    /// nesting past <see cref="MaxDepth"/>, strings that are not Unicode text and numbers beyond a double.
    /// </summary>
    public static bool TryParse(ReadOnlyMemory<byte> utf8, [NotNullWhen(true)] out JsonDocument? document, [NotNullWhen(false)] out JsonTextError? error)
    {
        document = null;
        try
        {
            error = Check(utf8.Span);
            if (error is not null)
            {
                return false;
            }
            document = JsonDocument.Parse(utf8, DocumentOptions);
            return true;
        }
        catch (JsonException e)
        {
            error = new JsonTextError(JsonDefect.Syntax, $"Not valid JSON: {e.Message}");
            return false;
        }
    }

    /// <summary>The same for JSON held in a string (a query parameter).</summary>
    public static bool TryParse(string text, [NotNullWhen(true)] out JsonDocument? document, [NotNullWhen(false)] out JsonTextError? error)
    {
        ArgumentNullException.ThrowIfNull(text);
        // A lone surrogate char in the string itself becomes U+FFFD here, which is text.
        return TryParse(System.Text.Encoding.UTF8.GetBytes(text), out document, out error);
    }

    /// <summary>The value of a string element, or null when it is not a string (or, before this door, not text).</summary>
    public static string? TryGetString(JsonElement element)
    {
        if (element.ValueKind != JsonValueKind.String)
        {
            return null;
        }
        try
        {
            return element.GetString();
        }
        catch (InvalidOperationException)
        {
            return null;
        }
    }

    private static JsonTextError? Check(ReadOnlySpan<byte> utf8)
    {
        // Read to the end even after a defect: a text or number defect is reported only for JSON that is
        // well-formed throughout (a syntax error anywhere wins), so a caller may still read it for an id.
        var reader = new Utf8JsonReader(utf8, new JsonReaderOptions { MaxDepth = MaxDepth });
        JsonTextError? first = null;
        while (reader.Read())
        {
            switch (reader.TokenType)
            {
                case JsonTokenType.PropertyName or JsonTokenType.String when first is null && !IsText(ref reader):
                    first = new JsonTextError(JsonDefect.Text,
                        $"A {(reader.TokenType == JsonTokenType.PropertyName ? "field name" : "string")} at byte {reader.TokenStartIndex} is not Unicode text (invalid UTF-8 or a lone surrogate).");
                    break;
                case JsonTokenType.Number when first is null && (!reader.TryGetDouble(out var value) || !double.IsFinite(value)):
                    first = new JsonTextError(JsonDefect.Number,
                        $"The number at byte {reader.TokenStartIndex} is beyond the range of a double (about ±1.8e308).");
                    break;
            }
        }
        // Trailing bytes after the value: the reader stops at the value's end, the document parser does not.
        return first is not null && reader.BytesConsumed < utf8.Length && !IsWhiteSpace(utf8[(int)reader.BytesConsumed..])
            ? new JsonTextError(JsonDefect.Syntax, "Not valid JSON: bytes follow the value.")
            : first;
    }

    private static bool IsWhiteSpace(ReadOnlySpan<byte> bytes) => bytes.IndexOfAnyExcept(" \t\r\n"u8) < 0;

    private static bool IsText(ref Utf8JsonReader reader)
    {
        if (!reader.ValueIsEscaped)
        {
            return Utf8.IsValid(reader.ValueSpan);
        }
        try
        {
            // Unescaping is where a lone \ud800 shows; it throws rather than decode to invalid UTF-16.
            _ = reader.GetString();
            return true;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }
}
