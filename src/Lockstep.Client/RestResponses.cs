using System.Text.Json;
using System.Text.Json.Nodes;
using Lockstep.Protocol;

namespace Lockstep.Client;

/// <summary>What the HTTP-based parts of the SDK (consumer groups, sagas, job queues) share: the API's base URL and reading answers.</summary>
internal static class RestResponses
{
    /// <summary>The API's base (<c>…/v1/</c>) from a server's base URL (<c>http://host:5080</c>) or its sync URL (<c>ws://host:5080/v1/sync</c>).</summary>
    public static Uri ApiBase(Uri url)
    {
        var builder = new UriBuilder(url) { Scheme = url.Scheme switch { "ws" => "http", "wss" => "https", _ => url.Scheme }, Query = "" };
        if (builder.Uri.IsDefaultPort)
        {
            builder.Port = -1;
        }
        var path = builder.Path.TrimEnd('/');
        builder.Path = path.EndsWith("/v1/sync", StringComparison.Ordinal) ? path[..^"/sync".Length] + "/" : path.EndsWith("/v1", StringComparison.Ordinal) ? path + "/" : path + "/v1/";
        return builder.Uri;
    }

    /// <summary>The body as a JSON object; null when empty or not JSON (a proxy's page, say).</summary>
    public static async Task<JsonObject?> ReadAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        var text = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return text.Length > 0 ? JsonNode.Parse(text) as JsonObject : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>
    /// A refusal as an exception: the problem's code, detail and transience, and its <c>op</c> (in <c>Data["op"]</c>).
    /// Without a code the answer is not Lockstep's (a proxy, a server starting): 5xx and 429 may pass.
    /// </summary>
    public static LockstepException ToException(HttpResponseMessage response, JsonObject? problem)
    {
        var code = (string?)problem?["code"];
        var message = (string?)problem?["detail"] ?? $"{(int)response.StatusCode} {response.ReasonPhrase}";
        var transient = code is not null ? (bool?)problem?["transient"] ?? false : (int)response.StatusCode is >= 500 or 429;
        return new LockstepException(code ?? ErrorCodes.InternalError.Code, message, transient) { Data = { ["op"] = (int?)problem?["op"] } };
    }
}
