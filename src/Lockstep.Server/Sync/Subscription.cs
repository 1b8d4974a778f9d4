using Lockstep.Core;

namespace Lockstep.Server;

/// <summary>One subscription of a session: a collection and a filter, named by the client.</summary>
internal sealed record Subscription(string Id, string Collection, Filter Filter);
