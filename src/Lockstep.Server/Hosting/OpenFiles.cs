using System.Globalization;

namespace Lockstep.Server;

/// <summary>The process's open-files limit and use, as Linux reports them in <c>/proc/self</c>; unknown elsewhere.</summary>
internal static class OpenFiles
{
    private const string LimitLine = "Max open files";

    /// <summary>The soft <c>RLIMIT_NOFILE</c>: the most file descriptors this process may hold; null when unknown or unlimited.</summary>
    public static long? SoftLimit()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/limits"))
            {
                if (line.StartsWith(LimitLine, StringComparison.Ordinal))
                {
                    var soft = line[LimitLine.Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault();
                    return long.TryParse(soft, NumberStyles.None, CultureInfo.InvariantCulture, out var limit) ? limit : null;
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
        return null;
    }

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
