using System.Diagnostics.CodeAnalysis;

namespace Lockstep.Core;

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

    /// <summary>True for 1–256 characters with no control characters and no <c>/</c>.</summary>
    public static bool IsValidId([NotNullWhen(true)] string? id)
    {
        if (string.IsNullOrEmpty(id) || id.Length > MaxIdLength)
        {
            return false;
        }
        foreach (var ch in id)
        {
            if (char.IsControl(ch) || ch == '/' || char.IsSurrogate(ch) && !char.IsSurrogatePair(id, id.IndexOf(ch, StringComparison.Ordinal)))
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>True for a document field name: non-empty, no <c>.</c> (it separates path segments), no control characters.</summary>
    public static bool IsValidFieldName([NotNullWhen(true)] string? name)
    {
        if (string.IsNullOrEmpty(name))
        {
            return false;
        }
        foreach (var ch in name)
        {
            if (ch == '.' || char.IsControl(ch))
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
