using Lockstep.Core;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Lockstep.Server;

/// <summary>
/// Compacts the log every <see cref="LockstepOptions.CompactionInterval"/>, keeping the newest
/// <see cref="LockstepOptions.RetainedChanges"/> changes. In a cluster only the holder of the compaction
/// lease (<see cref="ClusterMembership"/>) compacts, fenced by its token.
/// </summary>
internal sealed class CompactionService : BackgroundService
{
    private readonly IChangeStore _store;
    private readonly FanOut _fanOut;
    private readonly LogHorizon _horizon;
    private readonly ClusterMembership _membership;
    private readonly EngineLifetime _lifetime;
    private readonly LockstepOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;

    public CompactionService(IChangeStore store, FanOut fanOut, LogHorizon horizon, ClusterMembership membership, EngineLifetime lifetime,
        IOptions<LockstepOptions> options, ILogger<CompactionService> logger, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(options);
        _store = store;
        _fanOut = fanOut;
        _horizon = horizon;
        _membership = membership;
        _lifetime = lifetime;
        _options = options.Value;
        _logger = logger;
        _time = time;
    }

    /// <summary>Compacts the log now; the number of changes removed (0 when nothing was due, or another node holds the lease).</summary>
    public async Task<long> CompactAsync(CancellationToken cancellationToken)
    {
        var upTo = _fanOut.Head - _options.RetainedChanges;
        if (upTo <= _horizon.Value)
        {
            return 0;
        }
        long removed;
        if (_store is ISharedChangeStore shared)
        {
            if (_membership.CompactionLease is not { } lease)
            {
                return 0;
            }
            try
            {
                removed = await shared.CompactAsync(upTo, lease, cancellationToken);
            }
            catch (LeaseLostException)
            {
                await _membership.DropLeaseAsync(lease);
                return 0;
            }
        }
        else
        {
            removed = await _store.CompactAsync(upTo, cancellationToken);
        }
        _horizon.Observe(upTo);
        Log.Compacted(_logger, removed, upTo);
        return removed;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!await _lifetime.WaitStartedAsync(stoppingToken))
        {
            return;
        }
        try
        {
            using var timer = new PeriodicTimer(_options.CompactionInterval, _time);
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                try
                {
                    await CompactAsync(stoppingToken);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    Log.CompactionFailed(_logger, e);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }
}
