using System.Text.Json;
using Lockstep.Core;

namespace Lockstep.Server;

/// <summary>What a change is to a subscription, and so which frame it gets (<see cref="ChangeClassifier"/>).</summary>
internal enum ChangeFrameKind
{
    /// <summary>Not the subscription's, before or after: nothing is sent.</summary>
    None,

    /// <summary>The subscription's before and after: the change's <c>set</c>/<c>unset</c>.</summary>
    Delta,

    /// <summary>Enters the subscription (created, or now matching): the whole document.</summary>
    Whole,

    /// <summary>The subscription's, and deleted: <c>del</c>.</summary>
    Deleted,

    /// <summary>Leaves the subscription: a <c>removed</c> frame.</summary>
    Removed,

    /// <summary>Unknowable (a narrowed subscription whose before image is compacted away): send the subscription a fresh snapshot.</summary>
    Resync,
}

/// <summary>
/// Decides, for one subscription, whether a change enters, changes, leaves or does not concern it — reading
/// the document's previous version from the log when the change does not carry it — so that a subscription
/// narrowed by owner rules never hears of another's document.
/// </summary>
internal static class ChangeClassifier
{
    public static async ValueTask<ChangeFrameKind> ClassifyAsync(Subscription sub, Change change, IStoreReader? reader, Func<ValueTask<IStoreReader>> readerForNarrowed,
        CancellationToken cancellationToken)
    {
        if (sub.MatchesAll)
        {
            return change.Deleted ? ChangeFrameKind.Deleted : change.Created ? ChangeFrameKind.Whole : ChangeFrameKind.Delta;
        }
        var matchesNow = !change.Deleted && sub.Matches(change.Document);
        bool? matchedBefore;
        if (change.Created)
        {
            matchedBefore = false;
        }
        else if (change.PreviousKnown)
        {
            matchedBefore = sub.Matches(change.Previous);
        }
        else if (reader is not null)
        {
            matchedBefore = await MatchedBeforeAsync(sub, change, reader, cancellationToken);
        }
        else if (!sub.Access.All && !matchesNow)
        {
            // A subscription narrowed to the caller's documents must not hear of others' documents, not
            // even as "removed": find out whether this one was in it (unknown: the resync below).
            matchedBefore = await MatchedBeforeAsync(sub, change, await readerForNarrowed(), cancellationToken);
        }
        else
        {
            matchedBefore = null;
        }
        if (matchedBefore is null && !matchesNow && !sub.Access.All)
        {
            // The before image is compacted away, so it is unknown whether the caller had this document:
            // "removed" could tell of another's document, silence could leave a stale one. A fresh
            // snapshot of the subscription is both safe and right.
            return ChangeFrameKind.Resync;
        }
        return (matchedBefore, matchesNow) switch
        {
            (true, true) => ChangeFrameKind.Delta,
            (false, true) or (null, true) => ChangeFrameKind.Whole,
            (true, false) or (null, false) => change.Deleted ? ChangeFrameKind.Deleted : ChangeFrameKind.Removed,
            _ => ChangeFrameKind.None,
        };
    }

    /// <summary>Whether the document's previous version belonged to the subscription; null when that version is no longer in the log.</summary>
    private static async ValueTask<bool?> MatchedBeforeAsync(Subscription sub, Change change, IStoreReader reader, CancellationToken cancellationToken)
    {
        var (found, json) = change.PreviousSeq > 0 ? await reader.GetBodyAsync(change.PreviousSeq, cancellationToken) : (false, null);
        return found ? json is not null && sub.Matches(ParseElement(json)) : null;
    }

    public static JsonElement? ParseElement(string? json)
    {
        if (json is null)
        {
            return null;
        }
        using var doc = JsonDocument.Parse(json);
        return doc.RootElement.Clone();
    }
}
