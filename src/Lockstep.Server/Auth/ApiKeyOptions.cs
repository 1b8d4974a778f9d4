namespace Lockstep.Server;

/// <summary>
/// One API key a service authenticates with, as configured: its name, the SHA-256 hash of the key
/// (<c>lockstep apikey new</c> makes both) and its scopes.
/// </summary>
public sealed class ApiKeyOptions
{
    /// <summary>The service's name: its identity in logs and the id mutators see (<c>key:NAME</c>).</summary>
    public string Name { get; set; } = "";

    /// <summary>The key's hash, <c>sha256:</c> and 64 hex digits (<see cref="ApiKeys.Hash"/>).</summary>
    public string Hash { get; set; } = "";

    /// <summary>
    /// What the key may do: <c>read</c> and <c>write</c> on every collection, <c>read:NAME</c> and
    /// <c>write:NAME</c> on one, <c>jobs</c> for the job queues, <c>groups</c> for every consumer group,
    /// <c>groups:GROUP</c> for one (<c>groups:PREFIX*</c> for those whose name starts with PREFIX), <c>*</c> for
    /// everything. Writing does not imply reading, and neither implies the consumer groups. Calling mutators
    /// needs <c>write</c>, which also covers the job queues. Collection rules do not apply to API keys: their scopes do.
    /// </summary>
    public List<string> Scopes { get; } = [];
}
