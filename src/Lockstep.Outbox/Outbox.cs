using System.Data.Common;
using System.Globalization;

namespace Lockstep.Outbox;

/// <summary>
/// Writes mutations to the outbox inside the caller's own transaction, so they commit with the
/// business rows or not at all, and wakes the relays that listen to this instance. Works with any
/// SQLite or PostgreSQL <see cref="DbTransaction"/>, EF Core's (<c>Database.GetDbTransaction()</c>) included.
/// One instance per application (a singleton); thread-safe.
/// </summary>
public sealed class Outbox
{
    private readonly TimeProvider _time;
    private TaskCompletionSource _signal = NewSignal();
    private long _lastEnqueuedId;

    /// <summary>Creates an outbox writer on the system clock.</summary>
    public Outbox()
        : this(TimeProvider.System)
    {
    }

    /// <summary>Creates an outbox writer whose rows take their creation time from <paramref name="timeProvider"/>.</summary>
    public Outbox(TimeProvider timeProvider)
    {
        ArgumentNullException.ThrowIfNull(timeProvider);
        _time = timeProvider;
    }

    /// <summary>Completes at the next <see cref="Notify"/> (or enqueue) after it was read.</summary>
    internal Task Signaled => Volatile.Read(ref _signal).Task;

    /// <summary>
    /// The highest id this instance enqueued. A relay that has not seen it yet knows a transaction
    /// is about to commit (or has rolled back), and looks again soon instead of at its next poll.
    /// </summary>
    internal long LastEnqueuedId => Volatile.Read(ref _lastEnqueuedId);

    /// <summary>
    /// Adds <paramref name="mutation"/> to the outbox in <paramref name="transaction"/> and returns its id,
    /// which is the mutation id (<c>mid</c>) the relay publishes it under. Nothing is published unless
    /// the transaction commits. On PostgreSQL the call takes a transaction-scoped lock that it holds
    /// until the transaction ends, so that ids are committed in order: enqueue last, just before the commit.
    /// </summary>
    /// <param name="transaction">The caller's open transaction on a SQLite or PostgreSQL connection.</param>
    /// <param name="mutation">What to publish.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    public async Task<long> EnqueueAsync(DbTransaction transaction, OutboxMutation mutation, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(transaction);
        ArgumentNullException.ThrowIfNull(mutation);
        var connection = transaction.Connection ?? throw new ArgumentException("The transaction has completed.", nameof(transaction));
        var dialect = OutboxDialect.Of(connection);
        if (dialect.EnqueueLock is { } orderLock)
        {
            await using var lockCommand = OutboxDialect.Command(connection, transaction, orderLock);
            await lockCommand.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
        await using var command = InsertCommand(connection, transaction, mutation);
        var id = Convert.ToInt64(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false), CultureInfo.InvariantCulture);
        Enqueued(id);
        return id;
    }

    /// <summary>Adds an atomic batch of <paramref name="ops"/> to the outbox in <paramref name="transaction"/>; see <see cref="EnqueueAsync(DbTransaction, OutboxMutation, CancellationToken)"/>.</summary>
    /// <param name="transaction">The caller's open transaction on a SQLite or PostgreSQL connection.</param>
    /// <param name="ops">The ops, applied by the server all or none.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    public Task<long> EnqueueAsync(DbTransaction transaction, IEnumerable<OutboxOp> ops, CancellationToken cancellationToken = default) =>
        EnqueueAsync(transaction, OutboxMutation.Ops(ops), cancellationToken);

    /// <summary>The synchronous form of <see cref="EnqueueAsync(DbTransaction, OutboxMutation, CancellationToken)"/>, for code that writes synchronously.</summary>
    /// <param name="transaction">The caller's open transaction on a SQLite or PostgreSQL connection.</param>
    /// <param name="mutation">What to publish.</param>
    public long Enqueue(DbTransaction transaction, OutboxMutation mutation)
    {
        ArgumentNullException.ThrowIfNull(transaction);
        ArgumentNullException.ThrowIfNull(mutation);
        var connection = transaction.Connection ?? throw new ArgumentException("The transaction has completed.", nameof(transaction));
        var dialect = OutboxDialect.Of(connection);
        if (dialect.EnqueueLock is { } orderLock)
        {
            using var lockCommand = OutboxDialect.Command(connection, transaction, orderLock);
            lockCommand.ExecuteNonQuery();
        }
        using var command = InsertCommand(connection, transaction, mutation);
        var id = Convert.ToInt64(command.ExecuteScalar(), CultureInfo.InvariantCulture);
        Enqueued(id);
        return id;
    }

    /// <summary>
    /// Wakes the relays listening to this instance now. Enqueueing wakes them too, but before the
    /// transaction commits; a relay that finds nothing yet looks again shortly. Call this after the
    /// commit for the shortest delay.
    /// </summary>
    public void Notify() => Interlocked.Exchange(ref _signal, NewSignal()).TrySetResult();

    private void Enqueued(long id)
    {
        var last = Volatile.Read(ref _lastEnqueuedId);
        while (id > last && Interlocked.CompareExchange(ref _lastEnqueuedId, id, last) is var seen && seen != last)
        {
            last = seen;
        }
        Notify();
    }

    private DbCommand InsertCommand(DbConnection connection, DbTransaction transaction, OutboxMutation mutation)
    {
        var command = OutboxDialect.Command(connection, transaction, OutboxDialect.Insert);
        OutboxDialect.Add(command, "mutation", mutation.Json);
        OutboxDialect.Add(command, "created", _time.GetUtcNow().ToUnixTimeMilliseconds());
        return command;
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
