namespace Lockstep.Cli.Bench;

/// <summary>What one benchmark run measured.</summary>
internal sealed record BenchResult(
    int Writes,
    int Writers,
    double WritesPerSec,
    int Readers,
    int Rate,
    int Updates,
    LatencySummary LatencyMs,
    double BytesPerUpdatePerReader,
    SnapshotSummary Snapshot,
    string Encoding,
    string Synchronous,
    MachineInfo Machine);

/// <summary>One subscription's snapshot of a 1,000-document collection.</summary>
/// <param name="Documents">The documents it held.</param>
/// <param name="Frames">The snapshot frames (pages) it came in.</param>
/// <param name="Bytes">Their bytes on the wire, WebSocket headers included.</param>
/// <param name="DocumentJsonBytes">The documents' own JSON, for comparison.</param>
internal sealed record SnapshotSummary(int Documents, int Frames, long Bytes, long DocumentJsonBytes);

/// <summary>Write → seen latency percentiles in milliseconds.</summary>
internal sealed record LatencySummary(double P50, double P90, double P99, double Max, int Samples)
{
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

/// <summary>Where the figures were taken.</summary>
internal sealed record MachineInfo(int Cores, string Os, string Runtime)
{
    public static MachineInfo Current => new(Environment.ProcessorCount, System.Runtime.InteropServices.RuntimeInformation.OSDescription,
        System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription);
}
