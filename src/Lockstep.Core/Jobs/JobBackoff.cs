namespace Lockstep.Core.Jobs;

/// <summary>
/// Exponential backoff between attempts: after the failure of attempt <c>n</c> the job waits
/// <c>min(Max, Base × 2^(n−1))</c>, scaled by a random factor in <c>[1 − Jitter, 1 + Jitter]</c>
/// (and never beyond <see cref="Max"/>).
/// </summary>
/// <param name="Base">The wait after the first failure.</param>
/// <param name="Max">The longest wait.</param>
/// <param name="Jitter">The random spread, from 0 (none) to 1.</param>
public sealed record JobBackoff(TimeSpan Base, TimeSpan Max, double Jitter)
{
    /// <summary>1 second, doubling up to 5 minutes, ±20 %.</summary>
    public static JobBackoff Default { get; } = new(TimeSpan.FromSeconds(1), TimeSpan.FromMinutes(5), 0.2);

    /// <summary>The wait after the failure of attempt <paramref name="attempt"/> (1 for the first).</summary>
    public TimeSpan DelayAfter(int attempt)
    {
        var exponent = Math.Clamp(attempt - 1, 0, 40);
        var ms = Math.Min(Max.TotalMilliseconds, Base.TotalMilliseconds * Math.Pow(2, exponent));
        if (Jitter > 0)
        {
            // Jitter spreads retries of jobs that failed together (a downstream outage) so they do not return together.
#pragma warning disable CA5394 // not for security
            ms *= 1 + (Random.Shared.NextDouble() * 2 - 1) * Math.Clamp(Jitter, 0, 1);
#pragma warning restore CA5394
        }
        return TimeSpan.FromMilliseconds(Math.Clamp(ms, 0, Max.TotalMilliseconds));
    }
}
