namespace Lockstep.Core;

/// <summary>
/// What one filter may cost a server that keeps it: its terms (every comparison, and every item of an
/// <c>$in</c>) and the UTF-8 bytes of its JSON. A filter over either is refused as <c>filter_too_large</c>.
/// </summary>
/// <param name="MaxTerms">The most terms one filter may have.</param>
/// <param name="MaxBytes">The most UTF-8 bytes of JSON one filter may have.</param>
public sealed record FilterLimits(int MaxTerms, int MaxBytes)
{
    /// <summary>No bound (for a filter the caller itself made, as an SDK does).</summary>
    public static FilterLimits None { get; } = new(int.MaxValue, int.MaxValue);
}
