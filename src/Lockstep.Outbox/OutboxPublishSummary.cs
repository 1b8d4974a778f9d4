namespace Lockstep.Outbox;

/// <summary>What one <see cref="OutboxRelay.PublishPendingAsync"/> did.</summary>
/// <param name="Published">Rows the server applied (or had applied already) and that are now marked published.</param>
/// <param name="Refused">Rows the server refused for good, now marked refused with their error.</param>
/// <param name="Duplicates">Of <see cref="Published"/>, rows the server had applied before (a relay stopped between publishing and marking): applied once, not again.</param>
public readonly record struct OutboxPublishSummary(int Published, int Refused, int Duplicates);
