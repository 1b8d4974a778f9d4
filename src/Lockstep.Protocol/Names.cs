using System.Diagnostics.CodeAnalysis;

namespace Lockstep.Protocol;

/// <summary>The naming rules for collections, document ids and field paths (docs/protocol.md, "Names").</summary>
public static class Names
{
    /// <summary>The longest collection name.</summary>
    public const int MaxCollectionLength = 64;

    /// <summary>The longest document id.</summary>
    public const int MaxIdLength = 256;

    /// <summary>The deepest field path (segments) and the deepest nesting a document may have.</summary>
    public const int MaxDepth = 32;

    /// <summary>True for 1–64 characters of ASCII letters, digits, <c>_</c>, <c>-</c> and <c>.</c>, not starting with <c>.</c>.</summary>
    public static bool IsValidCollection([NotNullWhen(true)] string? name)
    {
        if (string.IsNullOrEmpty(name) || name.Length > MaxCollectionLength || name[0] == '.')
        {
            return false;
        }
        foreach (var ch in name)
        {
            if (!(char.IsAsciiLetterOrDigit(ch) || ch is '_' or '-' or '.'))
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>The longest client id (and consumer-group member id).</summary>
    public const int MaxClientIdLength = 128;

    /// <summary>True for 1–256 characters of text (no control characters, no lone surrogates) with no <c>/</c>.</summary>
    public static bool IsValidId([NotNullWhen(true)] string? id) =>
        !string.IsNullOrEmpty(id) && id.Length <= MaxIdLength && IsText(id) && !id.Contains('/', StringComparison.Ordinal);

    /// <summary>True for a client id (or consumer-group member id), as every path takes it: 1–128 characters of text (no control characters, no lone surrogates).</summary>
    public static bool IsValidClientId([NotNullWhen(true)] string? clientId) =>
        !string.IsNullOrEmpty(clientId) && clientId.Length <= MaxClientIdLength && IsText(clientId);

    /// <summary>True for a document field name: non-empty text (no control characters, no lone surrogates) without <c>.</c> (it separates path segments).</summary>
    public static bool IsValidFieldName([NotNullWhen(true)] string? name) =>
        !string.IsNullOrEmpty(name) && IsText(name) && !name.Contains('.', StringComparison.Ordinal);

    /// <summary>No control characters, and every surrogate in a pair (an emoji is two chars, one character).</summary>
    private static bool IsText(string value)
    {
        for (var i = 0; i < value.Length; i++)
        {
            var ch = value[i];
            if (char.IsHighSurrogate(ch) && i + 1 < value.Length && char.IsLowSurrogate(value[i + 1]))
            {
                i++;
            }
            else if (char.IsControl(ch) || char.IsSurrogate(ch))
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>Splits a dotted field path into segments; returns false when a segment is not a valid field name.</summary>
    public static bool TrySplitPath(string? path, [NotNullWhen(true)] out string[]? segments)
    {
        segments = null;
        if (string.IsNullOrEmpty(path))
        {
            return false;
        }
        var parts = path.Split('.');
        if (parts.Length > MaxDepth)
        {
            return false;
        }
        foreach (var part in parts)
        {
            if (!IsValidFieldName(part))
            {
                return false;
            }
        }
        segments = parts;
        return true;
    }
}
