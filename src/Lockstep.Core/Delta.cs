using System.Text.Json;
using System.Text.Json.Nodes;

namespace Lockstep.Core;

/// <summary>
/// The fields a change touched: dotted paths set to new values, and dotted paths removed. Applying
/// the delta of (before → after) to before gives after; that is what lets a change carry only
/// what changed.
/// </summary>
public sealed class Delta
{
    /// <summary>An empty delta.</summary>
    public static Delta Empty { get; } = new([], []);

    /// <summary>Creates a delta. Values are not copied; <see cref="ApplyTo"/> clones them.</summary>
    public Delta(IReadOnlyList<KeyValuePair<string, JsonNode?>> set, IReadOnlyList<string> unset)
    {
        Set = set;
        Unset = unset;
    }

    /// <summary>Paths set, with their new values, in document order.</summary>
    public IReadOnlyList<KeyValuePair<string, JsonNode?>> Set { get; }

    /// <summary>Paths removed.</summary>
    public IReadOnlyList<string> Unset { get; }

    /// <summary>True when nothing changed.</summary>
    public bool IsEmpty => Set.Count == 0 && Unset.Count == 0;

    /// <summary>Computes the smallest delta that turns <paramref name="before"/> into <paramref name="after"/>, recursing into objects present on both sides.</summary>
    public static Delta Compute(JsonObject? before, JsonObject after)
    {
        ArgumentNullException.ThrowIfNull(after);
        var set = new List<KeyValuePair<string, JsonNode?>>();
        var unset = new List<string>();
        Diff(before ?? [], after, prefix: null, set, unset);
        return set.Count == 0 && unset.Count == 0 ? Empty : new Delta(set, unset);
    }

    private static void Diff(JsonObject before, JsonObject after, string? prefix, List<KeyValuePair<string, JsonNode?>> set, List<string> unset)
    {
        // In the after document's order, so a delta reads like the document it changes.
        foreach (var (key, newValue) in after)
        {
            if (!before.TryGetPropertyValue(key, out var oldValue))
            {
                set.Add(new(Join(prefix, key), newValue));
            }
            else if (oldValue is JsonObject oldObject && newValue is JsonObject newObject)
            {
                Diff(oldObject, newObject, Join(prefix, key), set, unset);
            }
            else if (!JsonNode.DeepEquals(oldValue, newValue))
            {
                set.Add(new(Join(prefix, key), newValue));
            }
        }
        foreach (var (key, _) in before)
        {
            if (!after.ContainsKey(key))
            {
                unset.Add(Join(prefix, key));
            }
        }
    }

    private static string Join(string? prefix, string key) => prefix is null ? key : string.Concat(prefix, ".", key);

    /// <summary>Applies the delta to a document in place (values are cloned). Paths must be valid.</summary>
    public void ApplyTo(JsonObject document)
    {
        ArgumentNullException.ThrowIfNull(document);
        foreach (var path in Unset)
        {
            DocumentPaths.Unset(document, path.Split('.'));
        }
        foreach (var (path, value) in Set)
        {
            if (DocumentPaths.TrySet(document, path.Split('.'), value?.DeepClone()) is { } error)
            {
                throw new InvalidOperationException(error);
            }
        }
    }

    /// <summary>The set part as a JSON object text, keys being dotted paths.</summary>
    public string SetJson()
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, LockstepJson.WriterOptions))
        {
            writer.WriteStartObject();
            foreach (var (path, value) in Set)
            {
                writer.WritePropertyName(path);
                if (value is null)
                {
                    writer.WriteNullValue();
                }
                else
                {
                    value.WriteTo(writer);
                }
            }
            writer.WriteEndObject();
        }
        return System.Text.Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
    }

    /// <summary>The unset part as a JSON array text, or null when nothing was unset.</summary>
    public string? UnsetJson() => Unset.Count == 0 ? null : JsonSerializer.Serialize(Unset, UnsetContext.IReadOnlyListString);

    private static readonly CoreJsonContext UnsetContext = new(new JsonSerializerOptions { Encoder = LockstepJson.Encoder });

    /// <summary>Reads a delta back from its two JSON texts.</summary>
    public static Delta Parse(string? setJson, string? unsetJson)
    {
        var set = new List<KeyValuePair<string, JsonNode?>>();
        if (!string.IsNullOrEmpty(setJson) && JsonNode.Parse(setJson) is JsonObject obj)
        {
            foreach (var (key, value) in obj)
            {
                set.Add(new(key, value?.DeepClone()));
            }
        }
        var unset = string.IsNullOrEmpty(unsetJson)
            ? []
            : JsonSerializer.Deserialize(unsetJson, CoreJsonContext.Default.IReadOnlyListString) ?? [];
        return new Delta(set, unset);
    }
}
