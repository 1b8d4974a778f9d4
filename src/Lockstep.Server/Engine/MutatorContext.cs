using System.Diagnostics.CodeAnalysis;
using System.Text.Json.Nodes;
using Lockstep.Core;
using Lockstep.Protocol;

namespace Lockstep.Server;

/// <summary>
/// What a mutator sees: reads of the current state (including its own earlier writes) and writes
/// that all commit together or not at all.
/// </summary>
public sealed class MutatorContext
{
    private readonly MutationScope _scope;

    internal MutatorContext(MutationScope scope, string? clientId, Caller? caller = null)
    {
        _scope = scope;
        ClientId = clientId;
        User = caller?.Principal;
        UserId = caller?.Id;
    }

    /// <summary>
    /// The calling client's id as the server keeps it, when it sent one: the caller's kind and id, then the
    /// client's own id (<c>u5:alice|c-1</c>; docs/dev/storage-format.md), so it is unique across callers.
    /// </summary>
    public string? ClientId { get; }

    /// <summary>The authenticated caller's claims (a JWT's, or an API key's); null for anonymous callers and trusted code.</summary>
    public System.Security.Claims.ClaimsPrincipal? User { get; }

    /// <summary>The caller's id: a user's <c>sub</c>, or <c>key:NAME</c> for an API key; null when anonymous.</summary>
    public string? UserId { get; }

    /// <summary>The seq of the log's last change before this mutation's (the server's own mutators check positions against it).</summary>
    internal long Head => _scope.Head;

    /// <summary>A copy of a document's body, or null when it does not exist (or is deleted).</summary>
    public async ValueTask<JsonObject?> GetAsync(string collection, string id, CancellationToken cancellationToken = default)
    {
        var doc = await _scope.GetAsync(collection, id, cancellationToken);
        return doc is { Deleted: false } ? DocumentWriter.ParseBody(doc) : null;
    }

    /// <summary>A document with its version, or null when it never existed (tombstones are returned).</summary>
    public ValueTask<StoredDocument?> GetDocumentAsync(string collection, string id, CancellationToken cancellationToken = default) =>
        _scope.GetAsync(collection, id, cancellationToken);

    /// <summary>Replaces or creates a document; returns its new version.</summary>
    public ValueTask<long> PutAsync(string collection, string id, JsonObject document, long? ifVersion = null, CancellationToken cancellationToken = default) =>
        ApplyAsync(new PutOp(collection, id, document) { IfVersion = ifVersion }, cancellationToken);

    /// <summary>Sets fields (dotted paths) of a document, creating it if missing; returns its new version.</summary>
    public ValueTask<long> PatchAsync(string collection, string id, IReadOnlyDictionary<string, JsonNode?> set, long? ifVersion = null, CancellationToken cancellationToken = default) =>
        ApplyAsync(new PatchOp(collection, id, [.. set], []) { IfVersion = ifVersion }, cancellationToken);

    /// <summary>Adds to a numeric field; returns the document's new version.</summary>
    public ValueTask<long> IncrementAsync(string collection, string id, string path, decimal by, CancellationToken cancellationToken = default) =>
        ApplyAsync(new IncOp(collection, id, path, by), cancellationToken);

    /// <summary>Deletes a document; returns the tombstone's version.</summary>
    public ValueTask<long> DeleteAsync(string collection, string id, long? ifVersion = null, CancellationToken cancellationToken = default) =>
        ApplyAsync(new DeleteOp(collection, id) { IfVersion = ifVersion }, cancellationToken);

    /// <summary>
    /// Enqueues a job that commits with this mutator's writes, or not at all (docs/microservices.md, "Job
    /// queues"): an order and its confirmation email. A job whose idempotency key its queue already
    /// has is skipped. A replayed mutation (same client and mutation number) does not run again, so
    /// it does not enqueue again. Waiting claims see the job after the commit.
    /// </summary>
    /// <exception cref="ArgumentException">The queue name, payload, key, delay or attempts are invalid.</exception>
    /// <exception cref="NotSupportedException">The server's store has no job queues.</exception>
    public void EnqueueJob(Lockstep.Core.Jobs.NewJob job)
    {
        ArgumentNullException.ThrowIfNull(job);
        if (!Names.IsValidCollection(job.Queue))
        {
            throw new ArgumentException($"'{job.Queue}' is not a valid queue name.", nameof(job));
        }
        if (job.IdempotencyKey is { Length: 0 or > 256 } || job.MaxAttempts is < 1 or > 1000 || job.Delay < TimeSpan.Zero
            || !Enum.IsDefined(job.Lane) || !IsJson(job.Payload))
        {
            throw new ArgumentException("A job needs a JSON payload, a key of 1 to 256 characters (or none), 1 to 1000 attempts, a delay of zero or more, and a lane.", nameof(job));
        }
        if (!_scope.TryEnqueue(job))
        {
            throw new NotSupportedException("This server's store has no job queues.");
        }
    }

    private static bool IsJson(string payload)
    {
        try
        {
            using var _ = System.Text.Json.JsonDocument.Parse(payload);
            return true;
        }
        catch (System.Text.Json.JsonException)
        {
            return false;
        }
    }

    /// <summary>Aborts the mutator: nothing it wrote is kept, and the caller gets <c>mutation_rejected</c> with <paramref name="reason"/>.</summary>
    [DoesNotReturn]
    public static void Reject(string reason, string message) => throw new MutationRejectedException(reason, message);

    private async ValueTask<long> ApplyAsync(DocumentOp op, CancellationToken cancellationToken)
    {
        if (!Names.IsValidCollection(op.Collection) || !Names.IsValidId(op.Id))
        {
            throw new ArgumentException($"'{op.Collection}/{op.Id}' is not a valid collection/id.");
        }
        var (write, rejection) = await _scope.ApplyAsync(op, cancellationToken);
        if (rejection is not null)
        {
            throw new MutatorOpRejectedException(rejection);
        }
        return write!.Version;
    }
}

/// <summary>Carries a rejected op out of a mutator, so the call fails with the op's own code.</summary>
internal sealed class MutatorOpRejectedException(Rejection rejection) : Exception(rejection.Message)
{
    public Rejection Rejection { get; } = rejection;
}
