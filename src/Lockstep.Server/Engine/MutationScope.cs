using Lockstep.Core;

namespace Lockstep.Server;

/// <summary>
/// The writes of one mutation, applied to a private overlay of the batch so that a rejection
/// discards them all (atomicity) and later reads within the mutation see earlier writes.
/// </summary>
internal sealed class MutationScope
{
    private readonly BatchState _batch;
    private readonly LockstepOptions _options;
    private readonly Dictionary<(string, string), StoredDocument> _local = [];
    private readonly List<(AppliedWrite Write, string? AfterJson, string? PreviousJson, long PreviousSeq)> _writes = [];

    public MutationScope(BatchState batch, LockstepOptions options)
    {
        _batch = batch;
        _options = options;
    }

    /// <summary>The seq of the batch's last change before this mutation's.</summary>
    public long Head => _batch.Head;

    public async ValueTask<StoredDocument?> GetAsync(string collection, string id, CancellationToken cancellationToken)
    {
        var key = (collection, id);
        if (_local.TryGetValue(key, out var local))
        {
            return local;
        }
        if (_batch.Documents.TryGetValue(key, out var batched))
        {
            return batched;
        }
        if (_batch.Cache.TryGet(collection, id, out var cached))
        {
            return cached;
        }
        var stored = await _batch.Writer.GetDocumentAsync(collection, id, cancellationToken);
        if (stored is not null)
        {
            _batch.Cache.Set(stored);
        }
        return stored;
    }

    /// <summary>Applies one op to the overlay; returns the rejection, or null when it applied.</summary>
    /// <param name="op">The op.</param>
    /// <param name="cancellationToken">Cancels the store read.</param>
    /// <param name="grant">
    /// What the caller may write (null: anything, for trusted code). Under an owner grant the document must
    /// be absent or the caller's before the op, and deleted or the caller's after it; and a document that is
    /// not the caller's is answered as one that never existed (see below).
    /// </param>
    public async ValueTask<(AppliedWrite? Write, Rejection? Rejection)> ApplyAsync(DocumentOp op, CancellationToken cancellationToken, Grant? grant = null)
    {
        var current = await GetAsync(op.Collection, op.Id, cancellationToken);
        if (grant is { All: false } && current is not null && (current.Deleted || !grant.Allows(DocumentWriter.ParseBody(current))))
        {
            // The caller may know only its own documents. Another's, and any tombstone (whose version tells
            // that the id was used), get exactly the answer an id never used would get wherever that answer
            // is a refusal — not_found for a delete, version_conflict without "current" for an ifVersion —
            // so that no refusal tells them apart. Where an id never used would be written, a tombstone is
            // (its version continues), and another's document is refused as a write making a document
            // someone else's is: the one answer that cannot be the absent one (docs/security.md).
            var (_, _, asAbsent) = Evaluate(null, op, grant);
            if (asAbsent is not null)
            {
                return (null, asAbsent);
            }
            if (!current.Deleted)
            {
                return (null, Forbidden(op));
            }
        }
        var (write, afterJson, rejection) = Evaluate(current, op, grant);
        if (rejection is not null)
        {
            return (null, rejection);
        }
        _local[(op.Collection, op.Id)] = new StoredDocument(op.Collection, op.Id, write!.Version, 0, write.Deleted, afterJson, default);
        // Seq 0 marks a version written earlier in this same mutation: CommitTo fills it in.
        _writes.Add((write, afterJson, current is { Deleted: false } ? current.Json : null, current?.Seq ?? 0));
        return (write, null);
    }

    /// <summary>What <paramref name="op"/> makes of <paramref name="current"/>, with the owner check after it and the size limit; no side effects.</summary>
    private (AppliedWrite? Write, string? AfterJson, Rejection? Rejection) Evaluate(StoredDocument? current, DocumentOp op, Grant? grant)
    {
        var (write, rejection) = DocumentWriter.Apply(current, op, _options.PolicyOf(op.Collection));
        if (rejection is not null)
        {
            return (null, null, rejection);
        }
        if (grant is { All: false } && !write!.Deleted && !grant.Allows(write.Document))
        {
            return (null, null, Forbidden(op));
        }
        var afterJson = write!.Document?.ToJsonString(LockstepJson.Options);
        // Characters first: a UTF-8 byte count is only needed when the text could be over the limit.
        if (afterJson is not null && afterJson.Length * 3L > _options.MaxDocumentBytes
            && System.Text.Encoding.UTF8.GetByteCount(afterJson) is var bytes && bytes > _options.MaxDocumentBytes)
        {
            return (null, null, new Rejection(Protocol.ErrorCodes.DocumentTooLarge,
                $"{op.Collection}/{op.Id} would be {bytes} bytes, over the {_options.MaxDocumentBytes}-byte document limit."));
        }
        return (write, afterJson, null);
    }

    private static Rejection Forbidden(DocumentOp op) =>
        new(Protocol.ErrorCodes.Forbidden, $"{op.Collection}/{op.Id} is not yours to write (the collection's owner rule); nothing was written.");

    /// <summary>Jobs this mutation enqueued; they join the batch only if the mutation commits.</summary>
    private List<Lockstep.Core.Jobs.NewJob>? _jobs;

    /// <summary>Enqueues a job with the mutation's writes (in the batch's transaction); false when the store cannot.</summary>
    public bool TryEnqueue(Lockstep.Core.Jobs.NewJob job)
    {
        if (_batch.Writer.Jobs is null)
        {
            return false;
        }
        (_jobs ??= []).Add(job);
        return true;
    }

    /// <summary>Moves the mutation's writes into the batch, giving each change its seq and clock stamp.</summary>
    public List<DocumentVersion> CommitTo(HybridClock clock, string? clientId, long? mutationNo)
    {
        if (_jobs is not null)
        {
            _batch.Jobs.AddRange(_jobs);
        }
        var versions = new List<DocumentVersion>(_writes.Count);
        var assigned = _writes.Count > 1 ? new Dictionary<(string, string), long>() : null;
        foreach (var (write, afterJson, previousJson, knownPreviousSeq) in _writes)
        {
            var seq = ++_batch.Head;
            var key = (write.Collection, write.Id);
            var previousSeq = assigned is not null && assigned.TryGetValue(key, out var earlier) ? earlier : knownPreviousSeq;
            if (assigned is not null)
            {
                assigned[key] = seq;
            }
            var hlc = clock.Now();
            var change = new Change
            {
                Seq = seq,
                Collection = write.Collection,
                Id = write.Id,
                Version = write.Version,
                Deleted = write.Deleted,
                Created = write.Created,
                DocumentJson = afterJson,
                SetJson = write.Deleted ? null : write.Delta.SetJson(),
                UnsetJson = write.Deleted ? null : write.Delta.UnsetJson(),
                Hlc = hlc,
                ClientId = clientId,
                MutationNo = mutationNo,
                PreviousJson = previousJson,
                PreviousKnown = true,
                PreviousSeq = previousSeq,
            };
            _batch.Changes.Add(change);
            _batch.Documents[(write.Collection, write.Id)] =
                new StoredDocument(write.Collection, write.Id, write.Version, seq, write.Deleted, afterJson, hlc);
            versions.Add(new DocumentVersion(write.Collection, write.Id, write.Version));
        }
        return versions;
    }
}
