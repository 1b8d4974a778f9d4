using System.Globalization;

namespace Lockstep.Server;

/// <summary>The process's open-files limit and use, as Linux reports them in <c>/proc/self</c>; unknown elsewhere.</summary>
internal static class OpenFiles
{
    private const string LimitLine = "Max open files";

    /// <summary>The soft <c>RLIMIT_NOFILE</c>: the most file descriptors this process may hold; null when unknown or unlimited.</summary>
    public static long? SoftLimit() => Limits("self") is { } limits ? limits.Soft : null;

    /// <summary>
    /// The soft and hard open-files limits of a process (<c>self</c> or a PID) from <c>/proc/…/limits</c>; null when they
    /// cannot be read, and a limit null when it is unlimited.
    /// </summary>
    public static (long? Soft, long? Hard)? Limits(string process)
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{process}/limits"))
            {
                if (line.StartsWith(LimitLine, StringComparison.Ordinal))
                {
                    var parts = line[LimitLine.Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
                    return parts.Length < 2 ? null : (Parse(parts[0]), Parse(parts[1]));
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
        return null;
    }

    private static long? Parse(string limit) =>
        long.TryParse(limit, NumberStyles.None, CultureInfo.InvariantCulture, out var value) ? value : null;

    /// <summary>How many file descriptors the process holds now (0 when unknown).</summary>
    public static int Open()
    {
        try
        {
            return Directory.Exists("/proc/self/fd") ? Directory.GetFileSystemEntries("/proc/self/fd").Length : 0;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return 0;
        }
    }
}
