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
    public static async Task<LockstepException> RefusalAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        var text = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
        return ToException(response, ProblemBody.TryRead(text, out var problem) ? problem : null);
    }

    /// <summary>A refusal as an exception (see <see cref="RefusalAsync"/>); without a <paramref name="problem"/>, from the status alone.</summary>
    public static LockstepException ToException(HttpResponseMessage response, ProblemBody? problem)
    {
        if (problem is null)
        {
            return new LockstepException(ErrorCodes.InternalError.Code, $"{(int)response.StatusCode} {response.ReasonPhrase}", (int)response.StatusCode is >= 500 or 429) { Data = { ["op"] = null } };
        }
        return new LockstepException(problem.Code, problem.Detail.Length > 0 ? problem.Detail : $"{(int)response.StatusCode} {response.ReasonPhrase}", problem.Transient == true)
        {
            Data = { ["op"] = problem.Op },
        };
    }
}
