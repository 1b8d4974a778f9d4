using System.Text.Json.Serialization;

namespace Lockstep.Core;

[JsonSerializable(typeof(IReadOnlyList<string>))]
internal sealed partial class CoreJsonContext : JsonSerializerContext;
