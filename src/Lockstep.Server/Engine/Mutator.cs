using System.Text.Json;
using System.Text.Json.Nodes;

namespace Lockstep.Server;

/// <summary>
/// A server-side mutator: reads and writes documents through <paramref name="context"/> inside one
/// atomic transaction. Return a JSON value for the caller (or null). Reject with
/// <see cref="MutatorContext.Reject"/>; any other exception aborts with <c>mutator_failed</c>.
/// Mutators run on the sequencer one at a time: keep them short and free of outside I/O.
/// </summary>
public delegate ValueTask<JsonNode?> Mutator(MutatorContext context, JsonElement args, CancellationToken cancellationToken);
