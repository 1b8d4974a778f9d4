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

    private Filter(FilterCondition[] conditions, string json)
    {
        _conditions = conditions;
        Json = json;
    }

    /// <summary>The filter that matches every document.</summary>
    public static Filter All { get; } = new([], "{}");

    /// <summary>The filter's canonical JSON text.</summary>
    public string Json { get; }

    /// <summary>True when the filter has no conditions.</summary>
    public bool MatchesAll => _conditions.Length == 0;

    /// <summary>The conditions, all of which must hold.</summary>
    public IReadOnlyList<FilterCondition> Conditions => _conditions;

    /// <summary>Parses a filter; returns false with a message when it is malformed.</summary>
    public static bool TryParse(JsonElement json, out Filter filter, out string? error)
    {
        filter = All;
        error = null;
        if (json.ValueKind is JsonValueKind.Null or JsonValueKind.Undefined)
        {
            return true;
        }
        if (json.ValueKind != JsonValueKind.Object)
        {
            error = "A filter is a JSON object of field conditions.";
            return false;
        }
        var conditions = new List<FilterCondition>();
        foreach (var property in json.EnumerateObject())
        {
            if (!Names.IsValidFieldName(property.Name))
            {
                error = $"'{property.Name}' is not a top-level field name.";
                return false;
            }
            if (!FilterCondition.TryParse(property.Name, property.Value, out var condition, out error))
            {
                return false;
            }
            conditions.AddRange(condition);
        }
        filter = conditions.Count == 0 ? All : new Filter([.. conditions], json.GetRawText());
        return true;
    }

    /// <summary>Parses a filter from JSON text.</summary>
    public static bool TryParse(string? text, out Filter filter, out string? error)
    {
        filter = All;
        error = null;
        if (string.IsNullOrWhiteSpace(text))
        {
            return true;
        }
        if (!JsonText.TryParse(text, out var doc, out var defect))
        {
            error = $"The filter is not valid JSON text: {defect.Message}";
            return false;
        }
        using (doc)
        {
            return TryParse(doc.RootElement, out filter, out error);
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
