using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Polly;
using Polly.Retry;

namespace Lockstep.Outbox;

/// <summary>
/// Publishes the outbox's rows to Lockstep, in id order, each exactly once: every row is sent as
/// <c>POST /v1/mutations</c> with the outbox's client id and the row's id as <c>mid</c>, and marked
/// after the answer. A row published but not marked (the relay stopped in between) is sent again
/// and the server, which recorded (client id, mid), answers with the original result instead of
/// applying it twice. Host it as a <see cref="BackgroundService"/>, or call <see cref="RunAsync"/>
/// or <see cref="PublishPendingAsync"/> yourself.
/// </summary>
/// <remarks>
/// This class is the loop: poll, batch, retry with backoff, stop. It delivers each row through the internal
/// <c>MutationDelivery</c> (the POST and what its answer means) and reads and marks rows through <c>OutboxTable</c>.
/// </remarks>
public sealed class OutboxRelay : BackgroundService
{
    private static readonly Task Never = new TaskCompletionSource().Task;

    /// <summary>When a row enqueued in this process is not visible yet (its transaction had not committed), look again this soon, then twice as late, up to the poll interval.</summary>
    private static readonly TimeSpan SettleDelay = TimeSpan.FromMilliseconds(10);

    private static readonly TimeSpan CleanupInterval = TimeSpan.FromHours(1);

    /// <summary>The row being published, for the retry log.</summary>
    private static readonly ResiliencePropertyKey<long> RowKey = new("lockstep.outbox.row");

    private readonly OutboxRelayOptions _options;
    private readonly OutboxTable _table;
    private readonly MutationDelivery _delivery;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly ResiliencePipeline<PublishOutcome> _pipeline;
    private readonly SemaphoreSlim _pass = new(1, 1);
    private string? _clientId;
    private long _highestSeenId;
    private DateTimeOffset _nextCleanup;

    /// <summary>Creates a relay; <paramref name="options"/> is checked now and must not change afterwards.</summary>
    /// <param name="options">The relay's configuration.</param>
    /// <param name="logger">Where the relay logs (event ids 6000–6099); none when null.</param>
    /// <exception cref="ArgumentException">The options are incomplete or out of range.</exception>
    public OutboxRelay(OutboxRelayOptions options, ILogger<OutboxRelay>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
        _time = options.TimeProvider;
        _table = new OutboxTable(options.DataSource!, _time);
        _delivery = new MutationDelivery(options);
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        _pipeline = new ResiliencePipelineBuilder<PublishOutcome> { TimeProvider = _time }
            .AddRetry(new RetryStrategyOptions<PublishOutcome>
            {
                ShouldHandle = static args => ValueTask.FromResult(args.Outcome.Result.Kind == PublishOutcomeKind.Transient),
                // Without limit: a row that may still succeed holds back the rows after it (order), until the server is back.
                MaxRetryAttempts = int.MaxValue,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = options.RetryBaseDelay,
                MaxDelay = options.RetryMaxDelay,
                // A server that says when (Retry-After on rate_limited) is believed, within the cap.
                DelayGenerator = args => ValueTask.FromResult(args.Outcome.Result.RetryAfter is { } after
                    ? (TimeSpan?)TimeSpan.FromTicks(Math.Min(after.Ticks, options.RetryMaxDelay.Ticks))
                    : null),
                OnRetry = args =>
                {
                    var outcome = args.Outcome.Result;
                    Log.Retrying(_logger, args.Context.Properties.GetValue(RowKey, 0L), outcome.Code, outcome.Message, args.AttemptNumber + 1, args.RetryDelay);
                    return default;
                },
            })
            .Build();
    }

    /// <summary>
    /// Publishes until stopped: every pending row, then again whenever the <see cref="OutboxRelayOptions.Outbox"/>
    /// signals an enqueue, or every <see cref="OutboxRelayOptions.PollInterval"/>. Failures of the
    /// database or of the configuration are logged and retried with backoff; it returns only when
    /// <paramref name="cancellationToken"/> is cancelled.
    /// </summary>
    /// <param name="cancellationToken">Stops the relay (a row being published is left for the next run).</param>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        Log.Started(_logger, _delivery.MutationsUrl);
        var failures = 0;
        var settle = TimeSpan.Zero;
        while (!cancellationToken.IsCancellationRequested)
        {
            // Read the signal before the pass, so an enqueue during the pass wakes the next one.
            var signal = _options.Outbox?.Signaled ?? Never;
            TimeSpan wait;
            try
            {
                await PublishPendingAsync(cancellationToken).ConfigureAwait(false);
                failures = 0;
                if (_options.Outbox is { } outbox && outbox.LastEnqueuedId > Volatile.Read(ref _highestSeenId))
                {
                    // Enqueued in this process but not visible yet: its transaction is about to commit
                    // (or rolled back). Look again soon, then less and less often, up to the poll interval.
                    settle = settle == TimeSpan.Zero ? SettleDelay : TimeSpan.FromTicks(Math.Min(settle.Ticks * 2, _options.PollInterval.Ticks));
                    wait = TimeSpan.FromTicks(Math.Min(settle.Ticks, _options.PollInterval.Ticks));
                }
                else
                {
                    settle = TimeSpan.Zero;
                    wait = _options.PollInterval;
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                break;
            }
            catch (OutboxRelayException e)
            {
                wait = Backoff(++failures);
                Log.Halted(_logger, e.Code, e.Message, wait);
            }
            catch (Exception e)
            {
                wait = Backoff(++failures);
                Log.PassFailed(_logger, e, wait);
            }
            // While failing, an enqueue does not cut the backoff short.
            await WaitAsync(failures == 0 ? signal : Never, wait, cancellationToken).ConfigureAwait(false);
        }
        Log.Stopped(_logger);
    }

    /// <summary>
    /// Publishes every row pending now (and rows that commit meanwhile), in id order, one at a time,
    /// and returns what it did. Transient failures (the server down, 5xx, <c>rate_limited</c>,
    /// <c>overloaded</c>) are retried with exponential backoff and jitter until they succeed or
    /// <paramref name="cancellationToken"/> is cancelled. One pass at a time per relay.
    /// </summary>
    /// <param name="cancellationToken">Cancels the pass; rows not yet marked stay pending.</param>
    /// <exception cref="OutboxRelayException">The server refuses the relay itself (credentials, URL); nothing was marked.</exception>
    /// <exception cref="InvalidOperationException">The outbox tables do not exist (call <see cref="OutboxSchema.EnsureCreatedAsync"/>).</exception>
    public async Task<OutboxPublishSummary> PublishPendingAsync(CancellationToken cancellationToken = default)
    {
        await _pass.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var clientId = _clientId ??= await _table.ReadClientIdAsync(cancellationToken).ConfigureAwait(false);
            int published = 0, refused = 0, duplicates = 0;
            var after = 0L;
            while (true)
            {
                var rows = await _table.ReadPendingAsync(after, _options.BatchSize, cancellationToken).ConfigureAwait(false);
                foreach (var (id, mutation) in rows)
                {
                    var context = ResilienceContextPool.Shared.Get(cancellationToken);
                    context.Properties.Set(RowKey, id);
                    PublishOutcome outcome;
                    try
                    {
                        outcome = await _pipeline.ExecuteAsync(
                            static (ctx, state) => state.Delivery.SendAsync(state.ClientId, state.Id, state.Mutation, ctx.CancellationToken),
                            context, (Delivery: _delivery, ClientId: clientId, Id: id, Mutation: mutation)).ConfigureAwait(false);
                    }
                    finally
                    {
                        ResilienceContextPool.Shared.Return(context);
                    }
                    cancellationToken.ThrowIfCancellationRequested();
                    switch (outcome.Kind)
                    {
                        case PublishOutcomeKind.Applied:
                            await _table.MarkPublishedAsync(id, outcome.Seq, cancellationToken).ConfigureAwait(false);
                            published++;
                            if (outcome.Duplicate)
                            {
                                duplicates++;
                                Log.AlreadyApplied(_logger, id, outcome.Seq);
                            }
                            else
                            {
                                Log.Published(_logger, id, clientId, outcome.Seq);
                            }
                            break;
                        case PublishOutcomeKind.Refused:
                            var refusedAt = await _table.MarkRefusedAsync(id, outcome.Code, outcome.Message, cancellationToken).ConfigureAwait(false);
                            refused++;
                            Log.Refused(_logger, id, outcome.Code, outcome.Message);
                            await NotifyRefusedAsync(id, mutation, outcome, refusedAt, cancellationToken).ConfigureAwait(false);
                            break;
                        default:
                            throw new OutboxRelayException(outcome.Code, outcome.Status, outcome.Message);
                    }
                    after = id;
                    if (id > Volatile.Read(ref _highestSeenId))
                    {
                        Volatile.Write(ref _highestSeenId, id);
                    }
                }
                if (rows.Count < _options.BatchSize)
                {
                    break;
                }
            }
            await DeleteOldPublishedAsync(cancellationToken).ConfigureAwait(false);
            return new OutboxPublishSummary(published, refused, duplicates);
        }
        finally
        {
            _pass.Release();
        }
    }

    /// <summary>Lists refused rows, oldest first, with the server's error code and message.</summary>
    /// <param name="limit">At most this many.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    public async Task<IReadOnlyList<OutboxRefusal>> ListRefusedAsync(int limit = 100, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        return await _table.ListRefusedAsync(limit, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>How many rows wait to be published.</summary>
    /// <param name="cancellationToken">Cancels the call.</param>
    public Task<long> CountPendingAsync(CancellationToken cancellationToken = default) => _table.CountPendingAsync(cancellationToken);

    /// <inheritdoc />
    protected override Task ExecuteAsync(CancellationToken stoppingToken) => RunAsync(stoppingToken);

    /// <summary>Disposes the relay's own HTTP client. Stop <see cref="RunAsync"/> (or the host) first.</summary>
    public override void Dispose()
    {
        base.Dispose();
        _delivery.Dispose();
        _pass.Dispose();
    }

    private TimeSpan Backoff(int failures)
    {
        var ticks = _options.RetryBaseDelay.Ticks * Math.Pow(2, Math.Min(failures - 1, 30));
        return TimeSpan.FromTicks((long)Math.Min(ticks, _options.RetryMaxDelay.Ticks));
    }

    /// <summary>Waits for the signal or the delay.</summary>
    private async Task WaitAsync(Task signal, TimeSpan delay, CancellationToken cancellationToken)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var timer = Task.Delay(delay, _time, stop.Token);
        if (signal == Never)
        {
            try
            {
                await timer.ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                // Stopping: RunAsync's loop ends.
            }
            return;
        }
        await Task.WhenAny(signal, timer).ConfigureAwait(false);
        await stop.CancelAsync().ConfigureAwait(false);
    }

    /// <summary>At most once an hour: published rows older than the retention go (their ids are never drawn again).</summary>
    private async Task DeleteOldPublishedAsync(CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        if (_options.PublishedRetention is not { } retention || now < _nextCleanup)
        {
            return;
        }
        _nextCleanup = now + CleanupInterval;
        var deleted = await _table.DeletePublishedBeforeAsync(now - retention, cancellationToken).ConfigureAwait(false);
        Log.Deleted(_logger, deleted, retention);
    }

    private async Task NotifyRefusedAsync(long id, string mutation, PublishOutcome outcome, DateTimeOffset refusedAt, CancellationToken cancellationToken)
    {
        if (_options.OnRefused is not { } callback)
        {
            return;
        }
        try
        {
            var created = await _table.ReadCreatedAsync(id, cancellationToken).ConfigureAwait(false);
            await callback(new OutboxRefusal(id, mutation, outcome.Code, outcome.Message, created, refusedAt), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            Log.OnRefusedFailed(_logger, e, id);
        }
    }
}
