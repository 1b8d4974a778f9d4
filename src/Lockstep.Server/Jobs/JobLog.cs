using Microsoft.Extensions.Logging;

namespace Lockstep.Server;

/// <summary>Log messages of the job queues: event ids 6000s.</summary>
internal static partial class Log
{
    [LoggerMessage(6000, LogLevel.Debug, "Job {Id} of queue {Queue} enqueued ({Lane})")]
    public static partial void JobEnqueued(ILogger logger, long id, string queue, string lane);

    [LoggerMessage(6001, LogLevel.Warning, "Job {Id} of queue {Queue} is a dead letter after {Attempts} attempts")]
    public static partial void JobDead(ILogger logger, long id, string queue, int attempts);

    [LoggerMessage(6002, LogLevel.Information, "Purged {Count} done jobs")]
    public static partial void JobsPurged(ILogger logger, long count);

    [LoggerMessage(6003, LogLevel.Warning, "Purging done jobs failed; trying again later")]
    public static partial void JobPurgeFailed(ILogger logger, Exception exception);

    [LoggerMessage(6004, LogLevel.Information, "Replayed {Count} dead letters of queue {Queue}")]
    public static partial void JobsReplayed(ILogger logger, int count, string queue);

    [LoggerMessage(6005, LogLevel.Warning, "Listening for other nodes' job notifications failed; listening again (claims still poll)")]
    public static partial void JobNotificationsFailed(ILogger logger, Exception exception);
}
