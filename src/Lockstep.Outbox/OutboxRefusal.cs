namespace Lockstep.Outbox;

/// <summary>
/// An outbox row the server refused for good (for example <c>invalid_operation</c>, <c>version_conflict</c>,
/// <c>mutation_rejected</c>): nothing of it was written, and it stays in the outbox with its error.
/// Republishing it under the same id would return the same refusal; to try again, enqueue a new row.
/// </summary>
/// <param name="Id">The row's id, its mutation id.</param>
/// <param name="Mutation">The mutation as stored (JSON).</param>
/// <param name="Code">The stable error code (docs/errors.md).</param>
/// <param name="Message">The server's explanation.</param>
/// <param name="CreatedAt">When the row was enqueued.</param>
/// <param name="RefusedAt">When the relay recorded the refusal.</param>
public sealed record OutboxRefusal(long Id, string Mutation, string Code, string Message, DateTimeOffset CreatedAt, DateTimeOffset RefusedAt);
