using System.Text.Json.Serialization;

namespace Lockstep.Server.Rest;

/// <summary>The body of <c>GET /healthz</c>.</summary>
/// <param name="Status"><c>ok</c> or <c>starting</c>.</param>
/// <param name="Head">The last committed seq.</param>
/// <param name="Horizon">The compaction horizon.</param>
public sealed record HealthReport(string Status, long Head, long Horizon);

[JsonSerializable(typeof(HealthReport))]
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
internal sealed partial class RestJsonContext : JsonSerializerContext;
