using System.Text.Json;
using System.Text.Json.Nodes;
using Lockstep.Core;

namespace Lockstep.Server;

/// <summary>What a caller may do with one collection: everything, nothing, or the documents it owns.</summary>
internal sealed class Grant
{
    private readonly AccessRule[] _owners;

    private Grant(bool all, AccessRule[] owners, string? userId)
    {
        All = all;
        _owners = owners;
        UserId = userId;
    }

    public static Grant Everything { get; } = new(true, [], null);

    public static Grant Nothing { get; } = new(false, [], null);

    public static Grant Owned(AccessRule[] owners, string userId) => new(false, owners, userId);

    /// <summary>Every document of the collection.</summary>
    public bool All { get; }

    /// <summary>No document of the collection.</summary>
    public bool None => !All && _owners.Length == 0;

    public string? UserId { get; }

    /// <summary>Whether a document (null: absent or deleted) is within the grant.</summary>
    public bool Allows(JsonElement? document)
    {
        if (All)
        {
            return true;
        }
        if (document is not { ValueKind: JsonValueKind.Object } doc)
        {
            return false;
        }
        foreach (var rule in _owners)
        {
            if (Owns(doc, rule.Segments))
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>Whether a document body is within the grant.</summary>
    public bool Allows(JsonObject? document)
    {
        if (All)
        {
            return true;
        }
        if (document is null)
        {
            return false;
        }
        foreach (var rule in _owners)
        {
            if (DocumentPaths.TryGet(document, rule.Segments, out var value)
                && value is JsonValue v && v.GetValueKind() == JsonValueKind.String
                && string.Equals(v.GetValue<string>(), UserId, StringComparison.Ordinal))
            {
                return true;
            }
        }
        return false;
    }

    private bool Owns(JsonElement document, IReadOnlyList<string> segments)
    {
        var node = document;
        foreach (var segment in segments)
        {
            if (node.ValueKind != JsonValueKind.Object || !node.TryGetProperty(segment, out node))
            {
                return false;
            }
        }
        return node.ValueKind == JsonValueKind.String && node.ValueEquals(UserId);
    }
}
