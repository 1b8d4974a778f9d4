using System.Runtime.InteropServices;
using System.Text.Json;
using Lockstep.Protocol;

namespace Lockstep.Core;

/// <summary>
/// A subscription or listing filter: conditions on top-level fields, all of which must hold.
/// JSON form: <c>{"status":"open","priority":{"$in":[1,2]},"age":{"$gte":18,"$lt":65}}</c>.
/// Numbers compare numerically, strings ordinally (UTF-16 code units); values of different types never match.
/// </summary>
public sealed class Filter
{
    private readonly FilterCondition[] _conditions;

    private readonly JsonElement _root;
    private string? _json;

    private Filter(FilterCondition[] conditions, JsonElement root, int bytes)
    {
        _conditions = conditions;
        _root = root;
        Bytes = bytes;
    }

    /// <summary>The filter that matches every document.</summary>
    public static Filter All { get; } = new([], default, 0) { _json = "{}" };

    /// <summary>The UTF-8 bytes of the filter's JSON: what it counts against a connection's filter budget (0 for <see cref="All"/>).</summary>
    public int Bytes { get; }

    /// <summary>The filter's canonical JSON text (made when first asked for: a server keeps only the parsed filter).</summary>
    public string Json => _json ??= _root.GetRawText();

    /// <summary>True when the filter has no conditions.</summary>
    public bool MatchesAll => _conditions.Length == 0;

    /// <summary>The conditions, all of which must hold.</summary>
    public IReadOnlyList<FilterCondition> Conditions => _conditions;

    /// <summary>Parses a filter without bounding its size; returns false with a message when it is malformed.</summary>
    public static bool TryParse(JsonElement json, out Filter filter, out string? error)
    {
        var parsed = TryParse(json, FilterLimits.None, out filter, out var rejection);
        error = rejection?.Message;
        return parsed;
    }

    /// <summary>
    /// Parses a filter from a caller the server does not trust: refused as <see cref="ErrorCodes.InvalidFilter"/>
    /// when malformed, as <see cref="ErrorCodes.FilterTooLarge"/> when over the limits (checked before
    /// anything is kept).
    /// </summary>
    public static bool TryParse(JsonElement json, FilterLimits limits, out Filter filter, out Rejection? rejection)
    {
        ArgumentNullException.ThrowIfNull(limits);
        filter = All;
        rejection = null;
        if (json.ValueKind is JsonValueKind.Null or JsonValueKind.Undefined)
        {
            return true;
        }
        if (json.ValueKind != JsonValueKind.Object)
        {
            rejection = new Rejection(ErrorCodes.InvalidFilter, "A filter is a JSON object of field conditions.");
            return false;
        }
        var bytes = JsonMarshal.GetRawUtf8Value(json).Length;
        if (bytes > limits.MaxBytes)
        {
            rejection = new Rejection(ErrorCodes.FilterTooLarge, $"A filter may have {limits.MaxBytes} bytes of JSON; this one has {bytes}.");
            return false;
        }
        if (CountTerms(json, limits.MaxTerms) is var terms && terms > limits.MaxTerms)
        {
            rejection = new Rejection(ErrorCodes.FilterTooLarge,
                $"A filter may have {limits.MaxTerms} terms (each comparison, and each item of an $in); this one has more.");
            return false;
        }
        // One copy of the filter's JSON, which every operand points into (a copy per $in item would cost
        // a document each).
        var owned = json.Clone();
        var conditions = new List<FilterCondition>();
        foreach (var property in owned.EnumerateObject())
        {
            if (!Names.IsValidFieldName(property.Name))
            {
                rejection = new Rejection(ErrorCodes.InvalidFilter, $"'{property.Name}' is not a top-level field name.");
                return false;
            }
            if (!FilterCondition.TryParse(property.Name, property.Value, out var condition, out var error))
            {
                rejection = new Rejection(ErrorCodes.InvalidFilter, error!);
                return false;
            }
            conditions.AddRange(condition);
        }
        filter = conditions.Count == 0 ? All : new Filter([.. conditions], owned, bytes);
        return true;
    }

    /// <summary>The filter's terms, counted until past <paramref name="stopAbove"/>: a bare value or an operator is one, an <c>$in</c> one per item.</summary>
    private static long CountTerms(JsonElement json, int stopAbove)
    {
        long terms = 0;
        foreach (var field in json.EnumerateObject())
        {
            if (field.Value.ValueKind != JsonValueKind.Object)
            {
                terms++;
            }
            else
            {
                foreach (var op in field.Value.EnumerateObject())
                {
                    terms += op.Name == "$in" && op.Value.ValueKind == JsonValueKind.Array ? Math.Max(1, op.Value.GetArrayLength()) : 1;
                }
            }
            if (terms > stopAbove)
            {
                break;
            }
        }
        return terms;
    }

    /// <summary>Parses a filter from JSON text without bounding its size.</summary>
    public static bool TryParse(string? text, out Filter filter, out string? error)
    {
        var parsed = TryParse(text, FilterLimits.None, out filter, out var rejection);
        error = rejection?.Message;
        return parsed;
    }

    /// <summary>Parses a filter from JSON text from a caller the server does not trust (see <see cref="TryParse(JsonElement, FilterLimits, out Filter, out Rejection?)"/>).</summary>
    public static bool TryParse(string? text, FilterLimits limits, out Filter filter, out Rejection? rejection)
    {
        ArgumentNullException.ThrowIfNull(limits);
        filter = All;
        rejection = null;
        if (string.IsNullOrWhiteSpace(text))
        {
            return true;
        }
        // Refused before it is parsed: the text's UTF-16 length bounds its UTF-8 bytes from below.
        if (text.Length > limits.MaxBytes)
        {
            rejection = new Rejection(ErrorCodes.FilterTooLarge, $"A filter may have {limits.MaxBytes} bytes of JSON; this one has more.");
            return false;
        }
        if (!JsonText.TryParse(text, out var doc, out var defect))
        {
            rejection = new Rejection(ErrorCodes.InvalidFilter, $"The filter is not valid JSON text: {defect.Message}");
            return false;
        }
        using (doc)
        {
            return TryParse(doc.RootElement, limits, out filter, out rejection);
        }
    }

    /// <summary>True when the document (a JSON object) satisfies every condition. Null (a tombstone) never matches.</summary>
    public bool Matches(JsonElement? document)
    {
        if (document is not { ValueKind: JsonValueKind.Object } doc)
        {
            return false;
        }
        foreach (var condition in _conditions)
        {
            if (!condition.Matches(doc))
            {
                return false;
            }
        }
        return true;
    }

    /// <inheritdoc />
    public override string ToString() => Json;
}
