namespace Lockstep.Cli.Bench;

/// <summary>Write → seen latency percentiles in milliseconds (the JSON's <c>latencyMs</c>).</summary>
internal sealed record LatencySummary(double P50, double P90, double P99, double Max, long Samples)
{
    /// <summary>The percentiles of these samples, exactly (nearest rank); sorts the list.</summary>
    public static LatencySummary Of(List<double> samples)
    {
        if (samples.Count == 0)
        {
            return new LatencySummary(double.NaN, double.NaN, double.NaN, double.NaN, 0);
        }
        samples.Sort();
        double At(double q) => samples[Math.Min(samples.Count - 1, (int)Math.Ceiling(q * samples.Count) - 1)];
        return new LatencySummary(At(0.50), At(0.90), At(0.99), samples[^1], samples.Count);
    }
}
