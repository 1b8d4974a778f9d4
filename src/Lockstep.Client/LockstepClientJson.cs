using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace Lockstep.Client;

/// <summary>Source-generated serialization for the client's own JSON.</summary>
[JsonSerializable(typeof(JsonObject))]
internal sealed partial class LockstepClientJson : JsonSerializerContext;
