using Lockstep.Core;
using Lockstep.Protocol;

namespace Lockstep.Server;

/// <summary>A page of the change feed: the changes the caller may see, and the position to read after next.</summary>
/// <param name="Changes">Each change, and whether it is a bodiless "removed" entry (the document stopped being the caller's).</param>
/// <param name="Cursor">The seq to pass as <c>after</c> next time.</param>
internal sealed record FeedPage(IReadOnlyList<(Change Change, bool Removed)> Changes, long Cursor);

/// <summary>
/// The change feed (docs/protocol.md §9): the changes after a seq that a caller may read, in order; with a wait it
/// long-polls on the fan-out until there is at least one or the time is up.
/// </summary>
internal sealed class ChangeFeedService
{
    private readonly IChangeStore _store;
    private readonly AccessPolicy _access;
    private readonly FanOut _fanOut;
    private readonly EngineLifetime _lifetime;

    public ChangeFeedService(IChangeStore store, AccessPolicy access, FanOut fanOut, EngineLifetime lifetime)
    {
        _store = store;
        _access = access;
        _fanOut = fanOut;
        _lifetime = lifetime;
    }

    /// <summary>
    /// Up to <paramref name="limit"/> changes after <paramref name="after"/> of <paramref name="collections"/> (null: all the
    /// caller may read). A collection asked for by name must be readable (<c>forbidden</c>); otherwise unreadable ones are
    /// left out, and under an owner rule only the caller's documents show. A position behind the horizon or beyond the
    /// head is <c>cursor_expired</c>.
    /// </summary>
    public async Task<Outcome<FeedPage>> ReadAsync(Caller caller, long after, IReadOnlyList<string>? collections, int limit, TimeSpan wait, CancellationToken cancellationToken)
    {
        var grants = new Dictionary<string, Grant>(StringComparer.Ordinal);
        Grant GrantOf(string collection) =>
            grants.TryGetValue(collection, out var known) ? known : grants[collection] = _access.Read(caller, collection);
        if (collections?.FirstOrDefault(c => GrantOf(c).None) is { } denied)
        {
            return new Rejection(ErrorCodes.Forbidden, $"You may not read '{denied}'.");
        }

        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _lifetime.Stopping);
        deadline.CancelAfter(wait);
        while (true)
        {
            IReadOnlyList<Change> changes;
            List<(Change Change, bool Removed)> visible;
            long head;
            await using (var reader = await _store.BeginReadAsync(cancellationToken))
            {
                head = reader.Head;
                var horizon = reader.Horizon;
                if (after < horizon)
                {
                    return new Rejection(ErrorCodes.CursorExpired,
                        $"Changes up to {horizon} are no longer in the log; read the documents again and continue from seq {head}.");
                }
                if (after > head)
                {
                    // As the socket refuses to resume such a cursor (a reset): an empty page would leave the
                    // reader waiting for seqs that were given out again, to other changes, or never will be.
                    return new Rejection(ErrorCodes.CursorExpired,
                        $"'after' {after} is beyond the log's head {head} (the data was restored from an older backup, or the cursor is another server's); read the documents again and continue from seq {head}.");
                }
                changes = await reader.ReadChangesAsync(after, collections, limit, cancellationToken);
                visible = await VisibleChangesAsync(changes, GrantOf, reader, cancellationToken);
            }
            // With a full page the cursor is the last change; otherwise everything up to head was seen.
            var cursor = changes.Count == limit ? changes[^1].Seq : Math.Max(after, head);
            if (visible.Count > 0 || wait == TimeSpan.Zero || deadline.IsCancellationRequested)
            {
                return new FeedPage(visible, cursor);
            }
            if (changes.Count > 0)
            {
                after = cursor; // nothing here for this caller: keep waiting past it
                continue;
            }
            try
            {
                await _fanOut.WaitPastAsync(head, deadline.Token);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                // time is up: one more read, then answer whatever there is
            }
        }
    }

    /// <summary>
    /// The changes the caller may see: all of readable collections, and under an owner rule the changes
    /// that leave a document the caller's, plus a bodiless "removed" entry for one that stops being the
    /// caller's (deleted, or given to another). When the document's previous version is compacted away,
    /// whether it was the caller's is unknown and the change is left out.
    /// </summary>
    private static async Task<List<(Change Change, bool Removed)>> VisibleChangesAsync(IReadOnlyList<Change> changes, Func<string, Grant> grantOf, IStoreReader reader, CancellationToken cancellationToken)
    {
        var visible = new List<(Change, bool)>(changes.Count);
        foreach (var change in changes)
        {
            var grant = grantOf(change.Collection);
            if (grant.All)
            {
                visible.Add((change, false));
            }
            else if (grant.None)
            {
                continue;
            }
            else if (!change.Deleted && grant.Allows(change.Document))
            {
                visible.Add((change, false));
            }
            else if (!change.Created && change.PreviousSeq > 0
                && await reader.GetBodyAsync(change.PreviousSeq, cancellationToken) is (true, { } previous) && grant.Allows(DocumentService.Body(previous)))
            {
                visible.Add((change, true));
            }
        }
        return visible;
    }
}
