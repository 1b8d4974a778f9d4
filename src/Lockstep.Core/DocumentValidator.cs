using System.Text.Json.Nodes;
using Lockstep.Protocol;

namespace Lockstep.Core;

/// <summary>Checks that a document follows the rules: field names valid at every level, nesting no deeper than <see cref="Names.MaxDepth"/>.</summary>
public static class DocumentValidator
{
    /// <summary>Returns null when the document is valid, else a message saying what is wrong.</summary>
    public static string? Validate(JsonObject document) => Check(document, 1, "");

    /// <summary>Validates a value that will be stored at the given depth (1 = a top-level field).</summary>
    public static string? ValidateValue(JsonNode? value, int depth, string path) => value switch
    {
        JsonObject obj => Check(obj, depth + 1, path + "."),
        JsonArray array => CheckArray(array, depth + 1, path),
        _ => null,
    };

    private static string? Check(JsonObject obj, int depth, string prefix)
    {
        if (depth > Names.MaxDepth)
        {
            return $"The document nests deeper than {Names.MaxDepth} levels.";
        }
        foreach (var (key, value) in obj)
        {
            if (!Names.IsValidFieldName(key))
            {
                return $"Field name '{prefix}{key}' is not allowed: names are non-empty and contain no '.' or control characters.";
            }
            if (ValidateValue(value, depth, prefix + key) is { } error)
            {
                return error;
            }
        }
        return null;
    }

    private static string? CheckArray(JsonArray array, int depth, string path)
    {
        if (depth > Names.MaxDepth)
        {
            return $"The document nests deeper than {Names.MaxDepth} levels.";
        }
        foreach (var item in array)
        {
            if (ValidateValue(item, depth, path + "[]") is { } error)
            {
                return error;
            }
        }
        return null;
    }
}
