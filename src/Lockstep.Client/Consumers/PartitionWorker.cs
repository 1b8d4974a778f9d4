using Microsoft.Extensions.Logging;

namespace Lockstep.Client;

/// <summary>
/// Hands one partition's queued changes to the consumer's handler, one at a time and in order, within the
/// member's concurrency limit; a failing change is retried with backoff until it succeeds or the partition is gone.
/// </summary>
internal sealed class PartitionWorker : IDisposable
{
    private readonly Func<ConsumedChange, CancellationToken, ValueTask> _handler;
    private readonly PartitionTable _table;
    private readonly SemaphoreSlim _concurrency;
    private readonly TimeSpan _maxRetryDelay;
    private readonly string _group;
    private readonly ILogger _logger;

    public PartitionWorker(Func<ConsumedChange, CancellationToken, ValueTask> handler, PartitionTable table, ConsumerOptions options, string group, ILogger logger)
    {
        _handler = handler;
        _table = table;
        _concurrency = new SemaphoreSlim(Math.Max(1, options.MaxConcurrency));
        _maxRetryDelay = options.MaxRetryDelay;
        _group = group;
        _logger = logger;
    }

    /// <summary>Starts handling a newly held partition.</summary>
    public void Start(PartitionWork work) => work.Worker = Task.Run(() => RunAsync(work), CancellationToken.None);

    private async Task RunAsync(PartitionWork work)
    {
        var token = work.Cancel.Token;
        try
        {
            await foreach (var change in work.Queue.Reader.ReadAllAsync(token).ConfigureAwait(false))
            {
                for (var attempt = 1; ; attempt++)
                {
                    await _concurrency.WaitAsync(token).ConfigureAwait(false);
                    try
                    {
                        // The handler may finish even when the partition is revoked meanwhile: its token says so.
                        await _handler(change, token).ConfigureAwait(false);
                        break;
                    }
                    catch (Exception e) when (e is not OperationCanceledException || !token.IsCancellationRequested)
                    {
                        Log.HandlerFailed(_logger, e, _group, change.Seq, attempt);
                    }
                    finally
                    {
                        _concurrency.Release();
                    }
                    var delay = TimeSpan.FromMilliseconds(Math.Min(_maxRetryDelay.TotalMilliseconds, 100 * Math.Pow(2, Math.Min(attempt, 20))) * Random.Shared.NextDouble());
                    await Task.Delay(delay, token).ConfigureAwait(false);
                }
                _table.MarkHandled(work, change.Seq);
            }
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
            // revoked, or stopping
        }
    }

    public void Dispose() => _concurrency.Dispose();
}
