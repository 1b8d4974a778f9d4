using System.Text.Json;
using Lockstep.Core;
using Lockstep.Protocol;
using Microsoft.Extensions.Options;

namespace Lockstep.Server;

/// <summary>A page of a collection's documents the caller may see, in id order.</summary>
/// <param name="Documents">The page.</param>
/// <param name="Next">The id to list after for the next page; null when no visible document follows.</param>
/// <param name="Head">The log's head when the page was read.</param>
internal sealed record DocumentPage(IReadOnlyList<StoredDocument> Documents, string? Next, long Head);

/// <summary>
/// Documents read and written one at a time, as the access rules let a caller: a read answers what the caller
/// may see (another's document under an owner rule is "not found"), a write is one mutation of one op.
/// </summary>
internal sealed class DocumentService
{
    private readonly IChangeStore _store;
    private readonly AccessPolicy _access;
    private readonly MutationService _mutations;
    private readonly LockstepOptions _options;

    public DocumentService(IChangeStore store, AccessPolicy access, MutationService mutations, IOptions<LockstepOptions> options)
    {
        _store = store;
        _access = access;
        _mutations = mutations;
        _options = options.Value;
    }

    /// <summary>The body of a stored document, or null, as the access rules and filters read it.</summary>
    internal static JsonElement? Body(string? json)
    {
        if (json is null)
        {
            return null;
        }
        using var doc = JsonDocument.Parse(json);
        return doc.RootElement.Clone();
    }

    /// <summary>A document the caller may read: <c>forbidden</c> for an unreadable collection, <c>not_found</c> for a missing document or another's.</summary>
    public async Task<Outcome<StoredDocument>> GetAsync(Caller caller, string collection, string id, CancellationToken cancellationToken)
    {
        var grant = _access.Read(caller, collection);
        if (grant.None)
        {
            return Unreadable(collection);
        }
        await using var reader = await _store.BeginReadAsync(cancellationToken);
        var doc = await reader.GetDocumentAsync(collection, id, cancellationToken);
        // Another's document under an owner rule is "not found": its existence is not the caller's to know.
        if (doc is not { Deleted: false } || (!grant.All && !grant.Allows(Body(doc.Json))))
        {
            return new Rejection(ErrorCodes.NotFound, $"{collection}/{id} does not exist.");
        }
        return doc;
    }

    /// <summary>A listing's filter (docs/protocol.md), within the server's filter limits.</summary>
    public bool TryParseFilter(string text, out Filter filter, out Rejection? refusal) =>
        Filter.TryParse(text, _options.FilterLimits, out filter, out refusal);

    /// <summary>Up to <paramref name="limit"/> documents after <paramref name="after"/> that match the filter and the caller may read.</summary>
    public async Task<Outcome<DocumentPage>> ListAsync(Caller caller, string collection, Filter filter, int limit, string? after, CancellationToken cancellationToken)
    {
        var grant = _access.Read(caller, collection);
        if (grant.None)
        {
            return Unreadable(collection);
        }
        await using var reader = await _store.BeginReadAsync(cancellationToken);
        // One document past the page is looked for: "next" is set only when another document the caller may
        // see follows. Set whenever any document followed, it would tell an owner-rule caller that others'
        // documents sort after its own, and let it narrow down their ids listing after listing.
        var docs = new List<StoredDocument>(limit + 1);
        var cursor = string.IsNullOrEmpty(after) ? null : after;
        var more = true;
        var pageSize = Math.Max(limit + 1, 100);
        while (docs.Count <= limit && more)
        {
            var page = await reader.ListDocumentsAsync(collection, cursor, pageSize, includeDeleted: false, cancellationToken);
            more = page.Count == pageSize;
            foreach (var doc in page)
            {
                cursor = doc.Id;
                if ((filter.MatchesAll && grant.All) || Visible(filter, grant, Body(doc.Json)))
                {
                    docs.Add(doc);
                    if (docs.Count > limit)
                    {
                        break;
                    }
                }
            }
        }
        string? next = null;
        if (docs.Count > limit)
        {
            docs.RemoveAt(limit);
            next = docs[^1].Id; // passed as "after" for the next page
        }
        return new DocumentPage(docs, next, reader.Head);
    }

    /// <summary>One document op as a mutation; <paramref name="clientId"/> is the client's own id (scoped to the caller here).</summary>
    public Task<WriteResult> WriteAsync(Caller caller, DocumentOp op, string? clientId, long? mid, CancellationToken cancellationToken) =>
        _mutations.WriteAsync(caller, [op], clientId, mid, cancellationToken);

    private static bool Visible(Filter filter, Grant grant, JsonElement? document) => filter.Matches(document) && grant.Allows(document);

    private static Rejection Unreadable(string collection) => new(ErrorCodes.Forbidden, $"You may not read '{collection}'.");
}
