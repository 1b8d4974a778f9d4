namespace Lockstep.Core;

/// <summary>A server node as the registry knows it.</summary>
/// <param name="Id">The node's id (unique per process run).</param>
/// <param name="Url">Where clients reach it, when known.</param>
/// <param name="StartedAt">When it started.</param>
/// <param name="LastHeartbeat">Its last heartbeat, by the store's clock.</param>
/// <param name="Head">The log head it had published to its clients at that heartbeat.</param>
public sealed record ClusterNode(string Id, string? Url, DateTimeOffset StartedAt, DateTimeOffset LastHeartbeat, long Head);
