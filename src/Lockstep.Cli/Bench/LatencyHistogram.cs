namespace Lockstep.Cli.Bench;

/// <summary>
/// Latencies recorded from many receive loops at once without a lock or a list: counts in 10 µs buckets up to
/// 1 s, then 1 ms buckets up to 60 s (beyond: the last bucket), and the exact maximum. For the scenarios with
/// thousands of subscribers, where a sample per frame would be tens of millions of doubles. Percentiles are the
/// upper edge of their bucket, so they are at most 10 µs (1 ms past one second) above the true value.
/// </summary>
internal sealed class LatencyHistogram
{
    private const long FineBucketTicks = 10;      // µs
    private const int FineBuckets = 100_000;      // up to 1 s
    private const long CoarseBucketTicks = 1000;  // µs
    private const int CoarseBuckets = 59_000;     // up to 60 s
    private readonly long[] _counts = new long[FineBuckets + CoarseBuckets];
    private long _maxMicroseconds;
    private long _samples;

    public long Samples => Interlocked.Read(ref _samples);

    /// <summary>Records one latency; thread-safe.</summary>
    public void Record(TimeSpan latency)
    {
        var us = Math.Max(0, (long)(latency.Ticks / (TimeSpan.TicksPerMillisecond / 1000.0)));
        var bucket = us < FineBuckets * FineBucketTicks
            ? (int)(us / FineBucketTicks)
            : FineBuckets + (int)Math.Min(CoarseBuckets - 1, (us - FineBuckets * FineBucketTicks) / CoarseBucketTicks);
        Interlocked.Increment(ref _counts[bucket]);
        Interlocked.Increment(ref _samples);
        var max = Interlocked.Read(ref _maxMicroseconds);
        while (us > max)
        {
            var seen = Interlocked.CompareExchange(ref _maxMicroseconds, us, max);
            if (seen == max)
            {
                break;
            }
            max = seen;
        }
    }

    /// <summary>p50, p90, p99 and max of what was recorded, in milliseconds.</summary>
    public LatencySummary Summary()
    {
        var total = Samples;
        if (total == 0)
        {
            return new LatencySummary(double.NaN, double.NaN, double.NaN, double.NaN, 0);
        }
        var max = Interlocked.Read(ref _maxMicroseconds) / 1000.0;
        double At(double q)
        {
            var rank = (long)Math.Ceiling(q * total);
            var seen = 0L;
            for (var b = 0; b < _counts.Length; b++)
            {
                seen += Interlocked.Read(ref _counts[b]);
                if (seen >= rank)
                {
                    var upper = b < FineBuckets
                        ? (b + 1) * FineBucketTicks
                        : (FineBuckets * FineBucketTicks) + ((b - FineBuckets + 1) * CoarseBucketTicks);
                    return Math.Min(upper / 1000.0, max);
                }
            }
            return max;
        }
        return new LatencySummary(At(0.50), At(0.90), At(0.99), max, total);
    }
}
