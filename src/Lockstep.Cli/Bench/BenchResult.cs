namespace Lockstep.Cli.Bench;

/// <summary>What a run of <c>lockstep bench</c> without <c>--scenario</c> measured: the throughput, latency and snapshot scenarios in turn.</summary>
/// <param name="ServerCpuUsPerWrite">Server CPU (from /proc) per acknowledged write in the throughput phase; null when the servers' PIDs are unknown.</param>
/// <param name="ServerCpuUsPerFrame">Server CPU per delivered change frame in the latency phase; null likewise.</param>
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
    MachineInfo Machine,
    double? ServerCpuUsPerWrite,
    double? ServerCpuUsPerFrame);

/// <summary>One subscription's snapshot of a 1,000-document collection.</summary>
/// <param name="Documents">The documents it held.</param>
/// <param name="Frames">The snapshot frames (pages) it came in.</param>
/// <param name="Bytes">Their bytes on the wire, WebSocket headers included.</param>
/// <param name="DocumentJsonBytes">The documents' own JSON, for comparison.</param>
internal sealed record SnapshotSummary(int Documents, int Frames, long Bytes, long DocumentJsonBytes);

/// <summary>Where the figures were taken.</summary>
internal sealed record MachineInfo(int Cores, string Os, string Runtime)
{
    public static MachineInfo Current => new(Environment.ProcessorCount, System.Runtime.InteropServices.RuntimeInformation.OSDescription,
        System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription);
}
