using Microsoft.Extensions.Logging;

namespace Lockstep.Outbox;

/// <summary>The relay's log messages: event ids 6000–6099 (the outbox).</summary>
internal static partial class Log
{
    [LoggerMessage(6000, LogLevel.Information, "Outbox relay started, publishing to {Url}")]
    public static partial void Started(ILogger logger, Uri url);

    [LoggerMessage(6001, LogLevel.Information, "Outbox relay stopped")]
    public static partial void Stopped(ILogger logger);

    [LoggerMessage(6002, LogLevel.Debug, "Outbox row {Id} published as {ClientId}/{Id} at seq {Seq}")]
    public static partial void Published(ILogger logger, long id, string clientId, long seq);

    [LoggerMessage(6003, LogLevel.Information, "Outbox row {Id} had been applied already (seq {Seq}): a relay stopped between publishing and marking it; marked published, not applied again")]
    public static partial void AlreadyApplied(ILogger logger, long id, long seq);

    [LoggerMessage(6004, LogLevel.Warning, "Outbox row {Id} was refused by the server ({Code}: {Message}); recorded as refused, nothing of it was written")]
    public static partial void Refused(ILogger logger, long id, string code, string message);

    [LoggerMessage(6005, LogLevel.Warning, "Publishing outbox row {Id} failed transiently ({Code}: {Message}); retry {Attempt} in {Delay}")]
    public static partial void Retrying(ILogger logger, long id, string code, string message, int attempt, TimeSpan delay);

    [LoggerMessage(6006, LogLevel.Error, "The outbox relay cannot publish ({Code}: {Message}); nothing is marked, trying again in {Delay}. Check the relay's server URL and token")]
    public static partial void Halted(ILogger logger, string code, string message, TimeSpan delay);

    [LoggerMessage(6007, LogLevel.Warning, "An outbox relay pass failed; trying again in {Delay}")]
    public static partial void PassFailed(ILogger logger, Exception exception, TimeSpan delay);

    [LoggerMessage(6008, LogLevel.Warning, "The OnRefused callback for outbox row {Id} threw")]
    public static partial void OnRefusedFailed(ILogger logger, Exception exception, long id);

    [LoggerMessage(6009, LogLevel.Debug, "Deleted {Count} published outbox rows older than {Retention}")]
    public static partial void Deleted(ILogger logger, int count, TimeSpan retention);
}
