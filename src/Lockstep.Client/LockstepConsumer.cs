using Lockstep.Protocol;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Lockstep.Client;

/// <summary>
/// One member of a consumer group (docs/microservices.md): it claims a share of the group's partitions,
/// reads their changes in seq order, hands each to the handler — one at a time per partition, so each
/// document's changes are handled in order — and commits only what the handler finished. At least once:
/// after a crash or a rebalance, whatever was handled but not yet committed is delivered again (use
/// <see cref="LockstepInbox"/> to make effects exactly once). Start it as a hosted service, or with
/// <see cref="StartAsync"/>; <see cref="StopAsync"/> finishes the changes being handled, commits, and leaves the group.
/// </summary>
public sealed class LockstepConsumer : IHostedService, IAsyncDisposable
{
    private readonly string _group;
    private readonly string[] _collections;
    private readonly ConsumerOptions _options;
    private readonly ILogger _logger;
    private readonly ConsumerGroupApi _api;
    private readonly PartitionTable _table;
    private readonly PartitionWorker _worker;
    private readonly CancellationTokenSource _stopping = new();
    private readonly TaskCompletionSource _firstClaim = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task _loops = Task.CompletedTask;
    private int _state;

    /// <summary>A member of <paramref name="group"/> reading <paramref name="collections"/> from a server.</summary>
    /// <param name="servers">The servers' base URLs (<c>http://host:5080</c>) or sync URLs (<c>ws://host:5080/v1/sync</c>); tried in turn.</param>
    /// <param name="group">The group's name.</param>
    /// <param name="collections">The collections the group reads (the same for every member).</param>
    /// <param name="handler">Called once per change, per partition in seq order; throw to have it retried.</param>
    /// <param name="options">Settings; defaults when null.</param>
    /// <param name="tokenProvider">Supplies the bearer token (API key or JWT) for each request.</param>
    /// <param name="loggerFactory">Logging.</param>
    public LockstepConsumer(IEnumerable<Uri> servers, string group, IEnumerable<string> collections, Func<ConsumedChange, CancellationToken, ValueTask> handler,
        ConsumerOptions? options = null, Func<CancellationToken, ValueTask<string?>>? tokenProvider = null, ILoggerFactory? loggerFactory = null)
    {
        ArgumentNullException.ThrowIfNull(servers);
        ArgumentException.ThrowIfNullOrEmpty(group);
        ArgumentNullException.ThrowIfNull(collections);
        ArgumentNullException.ThrowIfNull(handler);
        Uri[] urls = [.. servers.Select(RestResponses.ApiBase)];
        if (urls.Length == 0)
        {
            throw new ArgumentException("At least one server URL is needed.", nameof(servers));
        }
        _group = group;
        _collections = [.. collections.Distinct(StringComparer.Ordinal)];
        _options = options ?? new ConsumerOptions();
        if (_options.Lease < TimeSpan.FromMilliseconds(200) || _options.Lease > TimeSpan.FromMinutes(10))
        {
            // The server would refuse every claim; say so here rather than through a consumer that never joins.
            throw new ArgumentOutOfRangeException(nameof(options), _options.Lease, "ConsumerOptions.Lease must be from 200 milliseconds to 10 minutes.");
        }
        _logger = loggerFactory?.CreateLogger<LockstepConsumer>() ?? NullLogger<LockstepConsumer>.Instance;
        _api = new ConsumerGroupApi(urls, group, _options.Member, tokenProvider);
        _table = new PartitionTable(group, _options.Member, _logger);
        _worker = new PartitionWorker(handler, _table, _options, group, _logger);
    }

    /// <summary>The group.</summary>
    public string Group => _group;

    /// <summary>This member's id.</summary>
    public string Member => _options.Member;

    /// <summary>The partitions this member holds now.</summary>
    public IReadOnlyList<int> Partitions => _table.Partitions;

    /// <summary>Completes once the first claim has been answered (the member has joined).</summary>
    public Task Joined => _firstClaim.Task;

    /// <summary>Joins the group and starts consuming in the background.</summary>
    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.CompareExchange(ref _state, 1, 0) != 0)
        {
            throw new InvalidOperationException("The consumer was started already.");
        }
        var token = _stopping.Token;
        _loops = Task.WhenAll(
            Task.Run(() => ClaimLoopAsync(token), CancellationToken.None),
            Task.Run(() => FetchLoopAsync(token), CancellationToken.None),
            Task.Run(() => CommitLoopAsync(token), CancellationToken.None));
        return Task.CompletedTask;
    }

    /// <summary>Stops fetching, lets the handler finish the changes it is on, commits what was handled, and leaves the group so others take its partitions at once.</summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.CompareExchange(ref _state, 2, 1) != 1)
        {
            return;
        }
        await _stopping.CancelAsync();
        await _loops.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        var works = _table.Works;
        foreach (var work in works)
        {
            // Queued changes are dropped unhandled (Pending stays above zero, so the commit below stops at
            // what was handled and the group's next holder gets them); the change being handled finishes.
            while (work.Queue.Reader.TryRead(out _))
            {
            }
            work.Queue.Writer.TryComplete();
        }
        try
        {
            await Task.WhenAll(works.Select(w => w.Worker)).WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Out of patience (a handler retrying a failure): cancel the handlers; what they did not finish is redelivered.
            foreach (var work in works)
            {
                await work.Cancel.CancelAsync().ConfigureAwait(false);
            }
        }
        try
        {
            await CommitAsync(cancellationToken).ConfigureAwait(false);
            await _api.LeaveAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is HttpRequestException or LockstepException or OperationCanceledException or FormatException)
        {
            Log.ConsumerStopFailed(_logger, e, _group);
        }
    }

    /// <summary>Stops (as <see cref="StopAsync"/>) and releases the HTTP client.</summary>
    public async ValueTask DisposeAsync()
    {
        using (var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10)))
        {
            await StopAsync(timeout.Token).ConfigureAwait(false);
        }
        _stopping.Dispose();
        _api.Dispose();
        _worker.Dispose();
    }

    /// <summary>Joins, then renews at a third of the lease; the answer is the member's share after rebalancing.</summary>
    private async Task ClaimLoopAsync(CancellationToken cancellationToken)
    {
        var lastClaim = DateTimeOffset.UtcNow;
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                var assigned = await _api.ClaimAsync(_collections, _options.Partitions, _options.Lease, cancellationToken).ConfigureAwait(false);
                lastClaim = DateTimeOffset.UtcNow;
                Assign(assigned);
                _firstClaim.TrySetResult();
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is HttpRequestException or LockstepException or OperationCanceledException or FormatException)
            {
                Log.ConsumerClaimFailed(_logger, e, _group);
                if (e is LockstepException { IsTransient: false } refused)
                {
                    _firstClaim.TrySetException(refused);
                }
                if (DateTimeOffset.UtcNow - lastClaim > _options.Lease)
                {
                    Assign([]); // without a renewal the leases are gone: stop handling their partitions
                }
            }
            await Delay(_options.Lease / 3, cancellationToken).ConfigureAwait(false);
        }
    }

    private void Assign(IReadOnlyList<GroupAssignment> assigned)
    {
        foreach (var work in _table.Assign(assigned))
        {
            _worker.Start(work);
        }
    }

    private async Task FetchLoopAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            var (works, pending) = _table.ToFetch();
            if (works.Count == 0 || pending > 4 * _options.FetchLimit)
            {
                await Delay(TimeSpan.FromMilliseconds(50), cancellationToken).ConfigureAwait(false);
                continue;
            }
            try
            {
                var answer = await _api.ChangesAsync(works.Values.Select(w => (w.Partition, w.Fetched)), _options.FetchLimit, cancellationToken).ConfigureAwait(false);
                _table.Accept(works, answer);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is HttpRequestException or LockstepException or OperationCanceledException or FormatException)
            {
                Log.ConsumerFetchFailed(_logger, e, _group);
                await Delay(TimeSpan.FromMilliseconds(500), cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private async Task CommitLoopAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            await Delay(_options.CommitInterval, cancellationToken).ConfigureAwait(false);
            try
            {
                await CommitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is HttpRequestException or LockstepException or OperationCanceledException or FormatException)
            {
                Log.CommitFailed(_logger, e, _group);
            }
        }
    }

    /// <summary>Commits each partition up to what the handler finished; a partition whose lease is gone is dropped.</summary>
    private async Task CommitAsync(CancellationToken cancellationToken)
    {
        var commits = _table.ToCommit();
        if (commits.Count == 0)
        {
            return;
        }
        try
        {
            await _api.CommitAsync(commits.Select(c => c.Commit), cancellationToken).ConfigureAwait(false);
        }
        catch (LockstepException e) when (e.Code == ErrorCodes.LeaseLost.Code)
        {
            if (e.Data["op"] is int p)
            {
                _table.Lose(p);
            }
            throw;
        }
        _table.MarkCommitted(commits);
    }

    private static async Task Delay(TimeSpan delay, CancellationToken cancellationToken)
    {
        try
        {
            await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // the loop checks the token
        }
    }
}
