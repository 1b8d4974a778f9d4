using Microsoft.Extensions.Logging;

namespace Lockstep.Client;

internal static partial class Log
{
    [LoggerMessage(6000, LogLevel.Warning, "Claiming jobs of queue {Queue} failed; trying again in {Delay}")]
    public static partial void ClaimFailed(ILogger logger, Exception exception, string queue, TimeSpan delay);

    [LoggerMessage(6001, LogLevel.Warning, "Lost the lease of job {Id} (token {Token}); its result is dropped")]
    public static partial void JobLeaseLost(ILogger logger, long id, long token);

    [LoggerMessage(6002, LogLevel.Warning, "Job {Id} failed on attempt {Attempt}")]
    public static partial void JobHandlerFailed(ILogger logger, Exception exception, long id, int attempt);

    [LoggerMessage(6003, LogLevel.Warning, "Reporting the outcome of job {Id} failed; its lease will expire and it will be redelivered")]
    public static partial void JobReportFailed(ILogger logger, Exception exception, long id);

    [LoggerMessage(6004, LogLevel.Debug, "Job {Id} done")]
    public static partial void JobDone(ILogger logger, long id);
}
