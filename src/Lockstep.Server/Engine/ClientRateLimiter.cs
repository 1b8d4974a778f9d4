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

    /// <summary>
    /// The address bucket a caller also draws from: an anonymous caller's remote address on a server that
    /// has credentials configured, so that a caller who can choose any client id (and so any client
    /// bucket) cannot escape the limit by choosing a new one. Null for everyone else: an authenticated
    /// caller's client ids are its own, and a server without credentials grants every caller
    /// everything anyway, so its callers are told apart by client id alone.
    /// </summary>
    public static string? AddressBucket(Caller caller, AuthOptions auth, System.Net.IPAddress? remote) =>
        caller.Kind == CallerKind.Anonymous && auth.HasCredentials ? "ip:" + remote : null;

    /// <summary>
    /// Takes one token for <paramref name="client"/> and, when given, one for <paramref name="address"/>;
    /// false when the request must be refused.
    /// </summary>
    public bool TryAcquire(string client, string? address, bool bulk)
    {
        if (_limiter is null)
        {
            return true;
        }
        if (address is not null && address != client && !TryAcquire(address, bulk))
        {
            return false;
        }
        return TryAcquire(client, bulk);
    }

    private bool TryAcquire(string bucket, bool bulk)
    {
        if (bulk && _limiter!.GetStatistics(bucket) is { } statistics && statistics.CurrentAvailablePermits <= _reserve)
        {
            return false;
        }
        using var lease = _limiter!.AttemptAcquire(bucket, 1);
        return lease.IsAcquired;
    }

    public void Dispose() => _limiter?.Dispose();
}
