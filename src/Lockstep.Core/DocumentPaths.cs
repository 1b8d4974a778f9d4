using System.Text.Json.Nodes;

namespace Lockstep.Core;

/// <summary>Reads and writes dotted field paths inside a JSON object.</summary>
public static class DocumentPaths
{
    /// <summary>Sets a path, creating intermediate objects; returns an error message when an intermediate is not an object.</summary>
    public static string? TrySet(JsonObject document, IReadOnlyList<string> segments, JsonNode? value)
    {
        ArgumentNullException.ThrowIfNull(document);
        ArgumentNullException.ThrowIfNull(segments);
        var node = document;
        for (var i = 0; i < segments.Count - 1; i++)
        {
            if (!node.TryGetPropertyValue(segments[i], out var child) || child is null)
            {
                var created = new JsonObject();
                node[segments[i]] = created;
                node = created;
            }
            else if (child is JsonObject childObject)
            {
                node = childObject;
            }
            else
            {
                return $"'{string.Join('.', segments.Take(i + 1))}' is not an object, so '{string.Join('.', segments)}' cannot be set.";
            }
        }
        node[segments[^1]] = value;
        return null;
    }

    /// <summary>Removes a path if present; a missing path or a non-object on the way is not an error.</summary>
    public static void Unset(JsonObject document, IReadOnlyList<string> segments)
    {
        ArgumentNullException.ThrowIfNull(document);
        ArgumentNullException.ThrowIfNull(segments);
        var node = document;
        for (var i = 0; i < segments.Count - 1; i++)
        {
            if (node[segments[i]] is not JsonObject child)
            {
                return;
            }
            node = child;
        }
        node.Remove(segments[^1]);
    }

    /// <summary>Reads a path; false when missing (a present JSON null returns true with a null node).</summary>
    public static bool TryGet(JsonObject document, IReadOnlyList<string> segments, out JsonNode? value)
    {
        ArgumentNullException.ThrowIfNull(document);
        ArgumentNullException.ThrowIfNull(segments);
        value = null;
        var node = document;
        for (var i = 0; i < segments.Count - 1; i++)
        {
            if (node[segments[i]] is not JsonObject child)
            {
                return false;
            }
            node = child;
        }
        return node.TryGetPropertyValue(segments[^1], out value);
    }
}
