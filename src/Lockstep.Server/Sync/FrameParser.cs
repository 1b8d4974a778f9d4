using System.Text.Json;
using Lockstep.Core;
using Lockstep.Protocol;

namespace Lockstep.Server;

/// <summary>
/// The socket's requests as the server holds them: what <see cref="RequestReader"/> read (Lockstep.Protocol parses
/// every request), with the filters compiled against the server's <see cref="FilterLimits"/> and each refusal a
/// <see cref="Rejection"/>.
/// </summary>
internal static class FrameParser
{
    /// <summary>The one version of docs/protocol.md this server speaks.</summary>
    public const int ProtocolVersion = RequestReader.ProtocolVersion;

    /// <summary>A refusal the reader gave, as the engine's value.</summary>
    public static Rejection ToRejection(RequestError error) => new(error.Code, error.Message) { OpIndex = error.Op };

    public static bool TryParseHello(JsonElement root, FilterLimits limits, out HelloFrame? hello, out List<Subscription> subs, out Rejection? rejection)
    {
        var compiled = new List<Subscription>();
        subs = compiled;
        rejection = null;
        if (RequestReader.TryReadHello(root, (spec, filter) => Compile(spec, filter, limits, compiled), out hello, out var error))
        {
            return true;
        }
        rejection = ToRejection(error!);
        return false;
    }

    public static bool TryParseSubscription(JsonElement element, FilterLimits limits, out Subscription? subscription, out Rejection? rejection)
    {
        subscription = null;
        var compiled = new List<Subscription>(1);
        if (!RequestReader.TryReadSubscription(element, out var spec, out var filter, out var error) || (error = Compile(spec!, filter, limits, compiled)) is not null)
        {
            rejection = ToRejection(error!);
            return false;
        }
        rejection = null;
        subscription = compiled[0];
        return true;
    }

    private static RequestError? Compile(SubscriptionSpec spec, JsonElement filterJson, FilterLimits limits, List<Subscription> into)
    {
        var filter = Filter.All;
        if (filterJson.ValueKind != JsonValueKind.Undefined && !Filter.TryParse(filterJson, limits, out filter, out var rejection))
        {
            return new RequestError(rejection!.Error, rejection.Message);
        }
        into.Add(new Subscription(spec.Sub, spec.Collection, filter));
        return null;
    }

    /// <summary>A frame through the one JSON door; on a defect, its rejection and the sound <c>id</c> it had, if any.</summary>
    public static JsonDocument? TryParse(ReadOnlyMemory<byte> frame, out Rejection? rejection, out JsonElement id)
    {
        var doc = RequestReader.TryOpen(frame, out var error, out id);
        rejection = error is null ? null : ToRejection(error);
        return doc;
    }
}
