using Microsoft.Extensions.Logging;

namespace Lockstep.Client;

internal static partial class Log
{
    [LoggerMessage(1000, LogLevel.Information, "Connected to {Url} (head {Head}, resumable {Resumable})")]
    public static partial void Connected(ILogger logger, Uri url, long head, bool? resumable);

    [LoggerMessage(1001, LogLevel.Warning, "Reconnecting (attempt {Attempt}) in {Delay}: {Reason}")]
    public static partial void Reconnecting(ILogger logger, int attempt, TimeSpan delay, string? reason);

    [LoggerMessage(1002, LogLevel.Information, "Connection to {Url} lost: {Reason}")]
    public static partial void Disconnected(ILogger logger, Uri url, string reason);

    [LoggerMessage(2000, LogLevel.Warning, "Server error without a request: {Code}: {Message}")]
    public static partial void ServerError(ILogger logger, string code, string message);

    [LoggerMessage(2001, LogLevel.Warning, "Subscription {Sub} is out of step ({Reason}); resynchronizing with a fresh snapshot")]
    public static partial void OutOfStep(ILogger logger, string sub, string reason);

    [LoggerMessage(2002, LogLevel.Debug, "Write {Mid} refused with transient {Code}; retrying in {Delay}")]
    public static partial void TransientRefusal(ILogger logger, long mid, string code, TimeSpan delay);

    [LoggerMessage(2003, LogLevel.Debug, "Write {Mid} refused: {Code}")]
    public static partial void WriteRefused(ILogger logger, long mid, string code);

    [LoggerMessage(3000, LogLevel.Warning, "Saving the local store failed")]
    public static partial void StoreFailed(ILogger logger, Exception exception);

    [LoggerMessage(5000, LogLevel.Warning, "A hook or event handler threw")]
    public static partial void CallbackFailed(ILogger logger, Exception exception);

    [LoggerMessage(7000, LogLevel.Warning, "Consumer group {Group}: claiming failed")]
    public static partial void ConsumerClaimFailed(ILogger logger, Exception exception, string group);

    [LoggerMessage(7001, LogLevel.Warning, "Consumer group {Group}: fetching failed")]
    public static partial void ConsumerFetchFailed(ILogger logger, Exception exception, string group);

    [LoggerMessage(7002, LogLevel.Warning, "Consumer group {Group}: committing failed")]
    public static partial void CommitFailed(ILogger logger, Exception exception, string group);

    [LoggerMessage(7003, LogLevel.Warning, "Consumer group {Group}: the handler failed on seq {Seq} (attempt {Attempt}); retrying")]
    public static partial void HandlerFailed(ILogger logger, Exception exception, string group, long seq, int attempt);

    [LoggerMessage(7004, LogLevel.Information, "Consumer group {Group}: {Member} holds partition {Partition} (epoch {Epoch}) from seq {Checkpoint}")]
    public static partial void PartitionAssigned(ILogger logger, string group, string member, int partition, long epoch, long checkpoint);

    [LoggerMessage(7005, LogLevel.Information, "Consumer group {Group}: {Member} no longer holds partition {Partition} (epoch {Epoch})")]
    public static partial void PartitionRevoked(ILogger logger, string group, string member, int partition, long epoch);

    [LoggerMessage(7006, LogLevel.Warning, "Consumer group {Group}: the final commit or leave failed")]
    public static partial void ConsumerStopFailed(ILogger logger, Exception exception, string group);

    [LoggerMessage(7100, LogLevel.Information, "Saga {Type} {Id} started")]
    public static partial void SagaStarted(ILogger logger, string type, string id);

    [LoggerMessage(7101, LogLevel.Warning, "Saga {Type} {Id}: step {Step} failed ({Error}); compensating")]
    public static partial void SagaStepFailed(ILogger logger, string type, string id, string step, string error);

    [LoggerMessage(7102, LogLevel.Information, "Saga {Type} {Id} {Status}")]
    public static partial void SagaEnded(ILogger logger, string type, string id, string status);

    [LoggerMessage(7103, LogLevel.Warning, "Saga {Type} {Id} was taken over by another runner")]
    public static partial void SagaLost(ILogger logger, string type, string id);

    [LoggerMessage(7104, LogLevel.Warning, "Sagas {Type}: looking for work failed")]
    public static partial void SagaPollFailed(ILogger logger, Exception exception, string type);

    [LoggerMessage(7105, LogLevel.Warning, "Saga {Type} {Id} was interrupted; it resumes when its lease runs out")]
    public static partial void SagaInterrupted(ILogger logger, Exception exception, string type, string id);
}

