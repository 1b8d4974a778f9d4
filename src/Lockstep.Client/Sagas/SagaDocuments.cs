using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Lockstep.Protocol;

namespace Lockstep.Client;

/// <summary>
/// The saga state documents of one collection over the REST API: the page of sagas no runner holds, and a
/// state written only if it is still at the version the writer last saw. Thread-safe.
/// </summary>
internal sealed class SagaDocuments : IDisposable
{
    private readonly Uri _base;
    private readonly string _collection;
    private readonly Func<CancellationToken, ValueTask<string?>>? _tokenProvider;
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(30) };

    public SagaDocuments(Uri apiBase, string collection, Func<CancellationToken, ValueTask<string?>>? tokenProvider)
    {
        _base = apiBase;
        _collection = collection;
        _tokenProvider = tokenProvider;
    }

    /// <summary>One page of the documents matching <paramref name="filter"/> after the id <paramref name="after"/>: each id, version and state, and the id to list after next (null at the end).</summary>
    public async Task<(List<(string Id, long Version, JsonObject State)> Docs, string? Next)> ListAsync(JsonObject filter, string? after, CancellationToken cancellationToken)
    {
        var query = $"collections/{_collection}/docs?filter={Uri.EscapeDataString(filter.ToJsonString())}&limit=100" + (after is null ? "" : "&after=" + Uri.EscapeDataString(after));
        var (_, page) = await SendAsync(HttpMethod.Get, query, null, null, cancellationToken).ConfigureAwait(false);
        using (page)
        {
            if (!JsonBodies.TryReadListing(page.RootElement, out var documents, out var next, out _))
            {
                throw new FormatException("The server's listing is not well formed.");
            }
            return ([.. documents.Select(d => (d.Id, d.Version, JsonNode.Parse(d.Doc.Json)!.AsObject()))], next);
        }
    }

    /// <summary>PUTs a state document only if it is at <paramref name="ifVersion"/> (0: only if absent); the new version, or null when it was not.</summary>
    public async Task<long?> WriteAsync(string id, JsonObject state, long ifVersion, CancellationToken cancellationToken)
    {
        var (status, answer) = await SendAsync(HttpMethod.Put, $"collections/{_collection}/docs/{Uri.EscapeDataString(id)}", state,
            ifVersion == 0 ? ("If-None-Match", "*") : ("If-Match", $"\"{ifVersion.ToString(CultureInfo.InvariantCulture)}\""), cancellationToken).ConfigureAwait(false);
        using (answer)
        {
            if (status == HttpStatusCode.PreconditionFailed)
            {
                return null;
            }
            return JsonBodies.TryReadDocumentWritten(answer.RootElement, out var version, out _)
                ? version
                : throw new FormatException("The server's answer to a write has no version.");
        }
    }

    public void Dispose() => _http.Dispose();

    private async Task<(HttpStatusCode Status, JsonDocument Body)> SendAsync(HttpMethod method, string path, JsonObject? body, (string Name, string Value)? header, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(method, new Uri(_base, path));
        if (body is not null)
        {
            request.Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json");
        }
        if (header is { } h)
        {
            request.Headers.TryAddWithoutValidation(h.Name, h.Value);
        }
        if (_tokenProvider is not null && await _tokenProvider(cancellationToken).ConfigureAwait(false) is { Length: > 0 } token)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }
        using var response = await _http.SendAsync(request, cancellationToken).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode && response.StatusCode != HttpStatusCode.PreconditionFailed)
        {
            throw await RestResponses.RefusalAsync(response, cancellationToken).ConfigureAwait(false);
        }
        var text = await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return (response.StatusCode, JsonDocument.Parse(text.Length > 0 ? text : "{}"u8.ToArray()));
        }
        catch (JsonException e)
        {
            throw new FormatException("The server's answer is not JSON.", e);
        }
    }
}
