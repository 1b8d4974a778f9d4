namespace Lockstep.Client;

/// <summary>The client's retry delay: exponential from <see cref="LockstepClientOptions.ReconnectBaseDelay"/> up to <see cref="LockstepClientOptions.ReconnectMaxDelay"/>, with full jitter.</summary>
internal static class Backoff
{
    /// <summary>The delay before attempt <paramref name="attempt"/>: uniform in [0, min(max, base × 2^attempt)].</summary>
    public static TimeSpan Delay(LockstepClientOptions options, int attempt)
    {
        var ceiling = Math.Min(options.ReconnectMaxDelay.TotalMilliseconds, options.ReconnectBaseDelay.TotalMilliseconds * Math.Pow(2, Math.Min(attempt, 30)));
        return TimeSpan.FromMilliseconds(Random.Shared.NextDouble() * ceiling);
    }
}
