using System.Globalization;

using Lockstep.Server;

namespace Lockstep.Cli.Bench;

/// <summary>
/// How many connections the open-files limits allow: this client process holds one descriptor per connection, and
/// so does each server node for its share. The soft limit counts; a process may raise its soft limit up to the hard
/// one, which .NET's runtime does for itself at start-up, but nothing can raise the hard limit from here.
/// </summary>
internal static class OpenFilesLimit
{
    // Descriptors a process holds besides the connections: the runtime, the log, the listening socket, a writer.
    private const int Reserve = 200;

    /// <summary>The soft and hard open-files limits of this process.</summary>
    public static (long Soft, long Hard)? OfThisProcess() => Read("self");

    /// <summary>
    /// At most <paramref name="wanted"/>, fewer when this process's soft limit (or that of a server node whose
    /// PID is known, for its share of the connections) would be reached, with the reason.
    /// </summary>
    public static (int Count, string? Reason) Allowing(int wanted, ProcessSampler? servers)
    {
        var count = wanted;
        string? reason = null;
        if (OfThisProcess() is { } own && own.Soft - Reserve < count)
        {
            count = (int)Math.Max(0, own.Soft - Reserve);
            reason = $"this client's open-files limit is {own.Soft:N0} (hard {own.Hard:N0})";
        }
        if (servers is not null)
        {
            foreach (var pid in servers.Pids)
            {
                if (Read(pid.ToString(CultureInfo.InvariantCulture)) is { } server && (server.Soft - Reserve) * servers.Pids.Count < count)
                {
                    count = (int)Math.Max(0, (server.Soft - Reserve) * servers.Pids.Count);
                    reason = $"server {pid}'s open-files limit is {server.Soft:N0} (hard {server.Hard:N0})";
                }
            }
        }
        return (count, reason);
    }

    /// <summary>A process's limits (<see cref="OpenFiles.Limits"/>), an unlimited one as <see cref="long.MaxValue"/>.</summary>
    private static (long Soft, long Hard)? Read(string process) =>
        OpenFiles.Limits(process) is { } limits ? (limits.Soft ?? long.MaxValue, limits.Hard ?? long.MaxValue) : null;
}
