using Microsoft.Extensions.Logging;

namespace Lockstep.Server;

/// <summary>Source-generated log messages. Event ids: 1000s connections, 2000s protocol, 3000s storage, 4000s writes, 5000s fan-out, 6000s job queues (JobLog.cs), 7000s webhooks.</summary>
internal static partial class Log
{
    [LoggerMessage(1000, LogLevel.Debug, "Session {Session} opened for client {ClientId}")]
    public static partial void SessionOpened(ILogger logger, string session, string? clientId);

    [LoggerMessage(1001, LogLevel.Debug, "Session {Session} closed: {Reason}")]
    public static partial void SessionClosed(ILogger logger, string session, string reason);

    [LoggerMessage(1002, LogLevel.Warning, "Session {Session} failed")]
    public static partial void SessionFailed(ILogger logger, Exception exception, string session);

    [LoggerMessage(1003, LogLevel.Information, "Session {Session} refused at hello: {Reason}")]
    public static partial void SessionRefused(ILogger logger, string session, string reason);

    [LoggerMessage(1040, LogLevel.Debug, "Credentials refused: {Detail}")]
    public static partial void TokenRefused(ILogger logger, string detail);

    [LoggerMessage(1004, LogLevel.Information, "Connections limited to {Limit} by the open-files limit {OpenFiles} ({Open} descriptors open at start, {Reserve} kept in reserve, {Pending} for handshakes, {Http} for other HTTP connections)")]
    public static partial void ConnectionsLimitedByOpenFiles(ILogger logger, int limit, long openFiles, int open, int reserve, int pending, int http);

    [LoggerMessage(1005, LogLevel.Information, "Connections limited to {Limit} by {Reason}")]
    public static partial void ConnectionsLimited(ILogger logger, int limit, string reason);

    [LoggerMessage(2000, LogLevel.Debug, "Session {Session} sent a bad frame: {Code} {Message}")]
    public static partial void BadFrame(ILogger logger, string session, string code, string message);

    [LoggerMessage(3000, LogLevel.Information, "Store opened: head {Head}, horizon {Horizon}")]
    public static partial void StoreOpened(ILogger logger, long head, long horizon);

    [LoggerMessage(3001, LogLevel.Error, "Committing a batch of {Count} mutations failed; all were refused")]
    public static partial void CommitFailed(ILogger logger, Exception exception, int count);

    [LoggerMessage(3002, LogLevel.Information, "Compacted {Removed} changes up to seq {UpTo}")]
    public static partial void Compacted(ILogger logger, long removed, long upTo);

    [LoggerMessage(3003, LogLevel.Warning, "Compaction failed")]
    public static partial void CompactionFailed(ILogger logger, Exception exception);

    [LoggerMessage(3004, LogLevel.Warning, "Reading other nodes' changes from the shared store failed; retrying")]
    public static partial void FollowFailed(ILogger logger, Exception exception);

    [LoggerMessage(3005, LogLevel.Error, "This node fell behind the log's horizon (at {Head}, horizon {Horizon}); its sessions reset")]
    public static partial void FollowerBehindHorizon(ILogger logger, long head, long horizon);

    [LoggerMessage(3006, LogLevel.Warning, "Listening for commit notifications failed; polling until it works again")]
    public static partial void NotificationsFailed(ILogger logger, Exception exception);

    [LoggerMessage(3007, LogLevel.Warning, "Cluster heartbeat failed")]
    public static partial void HeartbeatFailed(ILogger logger, Exception exception);

    [LoggerMessage(3008, LogLevel.Information, "Took lease {Lease} with fencing token {Token}")]
    public static partial void LeaseTaken(ILogger logger, string lease, long token);

    [LoggerMessage(3009, LogLevel.Warning, "Lost lease {Lease} (fencing token {Token})")]
    public static partial void LeaseLost(ILogger logger, string lease, long token);

    [LoggerMessage(4003, LogLevel.Error, "Commit observer {Observer} failed; the batch stays committed")]
    public static partial void CommitObserverFailed(ILogger logger, Exception exception, string observer);

    [LoggerMessage(4000, LogLevel.Trace, "Committed {Mutations} mutations, {Changes} changes, head {Head}")]
    public static partial void BatchCommitted(ILogger logger, int mutations, int changes, long head);

    [LoggerMessage(4002, LogLevel.Error, "A write failed unexpectedly; only its mutation was refused")]
    public static partial void WriteFailed(ILogger logger, Exception exception);

    [LoggerMessage(4001, LogLevel.Warning, "Mutator {Name} threw")]
    public static partial void MutatorFailed(ILogger logger, Exception exception, string name);

    [LoggerMessage(5000, LogLevel.Debug, "Session {Session} fell behind at {Position}; catching up from the log")]
    public static partial void FellBehind(ILogger logger, string session, long position);

    [LoggerMessage(7000, LogLevel.Information, "Webhook {Webhook} delivers from seq {Seq}")]
    public static partial void WebhookStarted(ILogger logger, string webhook, long seq);

    [LoggerMessage(7001, LogLevel.Warning, "Webhook {Webhook}: attempt {Attempt} of {MaxAttempts} for seqs {First}-{Last} failed: {Error}")]
    public static partial void WebhookAttemptFailed(ILogger logger, string webhook, int attempt, int maxAttempts, long first, long last, string error);

    [LoggerMessage(7002, LogLevel.Error, "Webhook {Webhook}: gave up on seqs {First}-{Last} after {Attempts} attempts; dead-lettered as {DeadLetter}")]
    public static partial void WebhookDeadLettered(ILogger logger, string webhook, long first, long last, int attempts, string deadLetter);

    [LoggerMessage(7003, LogLevel.Warning, "Webhook {Webhook}: its cursor moved elsewhere ({Code}); this node stops delivering it")]
    public static partial void WebhookCursorLost(ILogger logger, string webhook, string code);

    [LoggerMessage(7004, LogLevel.Error, "Webhook {Webhook} failed; restarting in a moment")]
    public static partial void WebhookFailed(ILogger logger, Exception exception, string webhook);

    [LoggerMessage(7040, LogLevel.Debug, "Webhook {Webhook}: the attempt failed: {Detail}")]
    public static partial void WebhookAttemptError(ILogger logger, string webhook, string detail);

    [LoggerMessage(7005, LogLevel.Warning, "Webhook {Webhook}: changes {From}-{To} were compacted before delivery; recorded as {DeadLetter}")]
    public static partial void WebhookGap(ILogger logger, string webhook, long from, long to, string deadLetter);
}
