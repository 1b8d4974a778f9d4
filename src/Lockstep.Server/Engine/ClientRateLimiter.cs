using System.Threading.RateLimiting;

namespace Lockstep.Server;

/// <summary>
/// A token bucket per client (System.Threading.RateLimiting), with two lanes: interactive requests
/// may use the whole bucket, bulk requests only what is left above the interactive reserve.
/// </summary>
internal sealed class ClientRateLimiter : IDisposable
{
    private readonly PartitionedRateLimiter<string>? _limiter;
    private readonly int _reserve;

    public ClientRateLimiter(LockstepOptions options)
    {
        if (options.RateLimitPerSecond <= 0)
        {
            return;
        }
        // Refilled ten times a second (or once per token below 10/s), so a bucket refills smoothly.
        var perPeriod = Math.Max(1, options.RateLimitPerSecond / 10);
        var period = options.RateLimitPerSecond >= 10 ? TimeSpan.FromMilliseconds(100) : TimeSpan.FromSeconds(1.0 / options.RateLimitPerSecond);
        _reserve = (int)Math.Ceiling(options.RateLimitBurst * options.RateLimitInteractiveReserve);
        _limiter = PartitionedRateLimiter.Create<string, string>(key => RateLimitPartition.GetTokenBucketLimiter(key, _ => new TokenBucketRateLimiterOptions
        {
            TokenLimit = options.RateLimitBurst,
            TokensPerPeriod = perPeriod,
            ReplenishmentPeriod = period,
            QueueLimit = 0,
            AutoReplenishment = true,
        }));
    }

    /// <summary>Takes one token for <paramref name="client"/>; false when the request must be refused.</summary>
    public bool TryAcquire(string client, bool bulk)
    {
        if (_limiter is null)
        {
            return true;
        }
        if (bulk && _limiter.GetStatistics(client) is { } statistics && statistics.CurrentAvailablePermits <= _reserve)
        {
            return false;
        }
        using var lease = _limiter.AttemptAcquire(client, 1);
        return lease.IsAcquired;
    }

    public void Dispose() => _limiter?.Dispose();
}
