using System.Globalization;

namespace Lockstep.Core;

/// <summary>
/// A hybrid-logical-clock stamp: wall-clock milliseconds since the Unix epoch plus a logical counter
/// that orders stamps taken within the same millisecond (or while the wall clock stands behind).
/// Its text form is <c>"&lt;ms&gt;-&lt;counter&gt;"</c>, for example <c>1732345678901-0</c>.
/// </summary>
public readonly record struct HlcTimestamp(long WallMs, int Counter) : IComparable<HlcTimestamp>
{
    /// <summary>The zero stamp, smaller than any stamp a clock produces.</summary>
    public static HlcTimestamp Zero => default;

    /// <inheritdoc />
    public int CompareTo(HlcTimestamp other)
    {
        var c = WallMs.CompareTo(other.WallMs);
        return c != 0 ? c : Counter.CompareTo(other.Counter);
    }

    /// <summary>Compares two stamps.</summary>
    public static bool operator <(HlcTimestamp left, HlcTimestamp right) => left.CompareTo(right) < 0;

    /// <summary>Compares two stamps.</summary>
    public static bool operator >(HlcTimestamp left, HlcTimestamp right) => left.CompareTo(right) > 0;

    /// <summary>Compares two stamps.</summary>
    public static bool operator <=(HlcTimestamp left, HlcTimestamp right) => left.CompareTo(right) <= 0;

    /// <summary>Compares two stamps.</summary>
    public static bool operator >=(HlcTimestamp left, HlcTimestamp right) => left.CompareTo(right) >= 0;

    /// <inheritdoc />
    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture, $"{WallMs}-{Counter}");

    /// <summary>Parses the text form; returns false for anything else.</summary>
    public static bool TryParse(string? text, out HlcTimestamp stamp)
    {
        stamp = default;
        if (string.IsNullOrEmpty(text))
        {
            return false;
        }
        var dash = text.IndexOf('-', StringComparison.Ordinal);
        if (dash <= 0
            || !long.TryParse(text.AsSpan(0, dash), NumberStyles.None, CultureInfo.InvariantCulture, out var ms)
            || !int.TryParse(text.AsSpan(dash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var counter))
        {
            return false;
        }
        stamp = new HlcTimestamp(ms, counter);
        return true;
    }

    /// <summary>Parses the text form or throws <see cref="FormatException"/>.</summary>
    public static HlcTimestamp Parse(string text) =>
        TryParse(text, out var stamp) ? stamp : throw new FormatException($"'{text}' is not a hybrid-logical-clock stamp.");
}
