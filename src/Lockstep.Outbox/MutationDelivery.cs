using System.Buffers;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;

namespace Lockstep.Outbox;

/// <summary>
/// Delivers one outbox row to the server: a <c>POST /v1/mutations</c> under the outbox's client id with the
/// row's id as the mutation id, with the relay's credentials and request timeout, and classifies the answer
/// as applied, refused, transient or halting (<see cref="PublishOutcome"/>). It never retries; the relay does.
/// </summary>
internal sealed class MutationDelivery : IDisposable
{
    private static readonly MediaTypeHeaderValue JsonType = new("application/json");

    private readonly HttpClient _http;
    private readonly bool _ownsHttp;
    private readonly Uri _mutationsUrl;
    private readonly TimeSpan _requestTimeout;
    private readonly string? _accessToken;
    private readonly Func<CancellationToken, ValueTask<string?>>? _accessTokenProvider;
    private readonly TimeProvider _time;

    /// <summary>Delivers as <paramref name="options"/> (already validated) say, over their HTTP client or one of its own.</summary>
    public MutationDelivery(OutboxRelayOptions options)
    {
        _mutationsUrl = options.MutationsUrl;
        _ownsHttp = options.HttpClient is null;
        _http = options.HttpClient ?? new HttpClient { Timeout = Timeout.InfiniteTimeSpan };
        _requestTimeout = options.RequestTimeout;
        _accessToken = options.AccessToken;
        _accessTokenProvider = options.AccessTokenProvider;
        _time = options.TimeProvider;
    }

    /// <summary>Where the mutations go.</summary>
    public Uri MutationsUrl => _mutationsUrl;

    /// <summary>Publishes <paramref name="mutation"/> (the stored JSON) as mutation <paramref name="id"/> of <paramref name="clientId"/>; a failure is an outcome, never an exception (except cancellation by <paramref name="cancellationToken"/>).</summary>
    public async ValueTask<PublishOutcome> SendAsync(string clientId, long id, string mutation, CancellationToken cancellationToken)
    {
        byte[] body;
        try
        {
            body = Body(clientId, id, mutation);
        }
        catch (JsonException e)
        {
            // Only a row written around Outbox.Enqueue gets here; the server is never asked.
            return PublishOutcome.Failed(PublishOutcomeKind.Refused, "invalid_request", "The stored mutation is not a JSON object: " + e.Message);
        }
        using var timeout = new CancellationTokenSource(_requestTimeout, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, _mutationsUrl);
            request.Content = new ByteArrayContent(body);
            request.Content.Headers.ContentType = JsonType;
            // The header too, so the server's per-client rate limit counts this outbox, not its address.
            request.Headers.TryAddWithoutValidation("Lockstep-Client-Id", clientId);
            var token = _accessTokenProvider is { } provider
                ? await provider(linked.Token).ConfigureAwait(false)
                : _accessToken;
            if (!string.IsNullOrEmpty(token))
            {
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            }
            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseContentRead, linked.Token).ConfigureAwait(false);
            var answer = await response.Content.ReadAsByteArrayAsync(linked.Token).ConfigureAwait(false);
            return Classify(response, answer);
        }
        catch (HttpRequestException e)
        {
            return PublishOutcome.Failed(PublishOutcomeKind.Transient, "unreachable", e.Message);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return PublishOutcome.Failed(PublishOutcomeKind.Transient, "timeout", $"No answer within {_requestTimeout}.");
        }
    }

    /// <summary>The request body: the stored mutation with <c>clientId</c> and <c>mid</c> in front.</summary>
    internal static byte[] Body(string clientId, long id, string mutation)
    {
        using var stored = JsonDocument.Parse(mutation);
        if (stored.RootElement.ValueKind != JsonValueKind.Object)
        {
            throw new JsonException("not an object");
        }
        var buffer = new ArrayBufferWriter<byte>(mutation.Length + 64);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteString("clientId", clientId);
            writer.WriteNumber("mid", id);
            foreach (var property in stored.RootElement.EnumerateObject())
            {
                if (property.NameEquals("clientId") || property.NameEquals("mid"))
                {
                    continue;
                }
                property.WriteTo(writer);
            }
            writer.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>
    /// 2xx: applied. A Lockstep problem: <c>unauthorized</c> and <c>forbidden</c> halt the relay (the
    /// credentials are wrong for every row, so marking rows refused would lose them); a transient code
    /// is retried; any other code is a refusal of this row. Not a Lockstep answer: 408, 429 and 5xx are
    /// transient (a proxy, a restart), anything else halts (the URL is wrong).
    /// </summary>
    internal static PublishOutcome Classify(HttpResponseMessage response, byte[] answer)
    {
        var status = (int)response.StatusCode;
        TimeSpan? retryAfter = response.Headers.RetryAfter?.Delta;
        JsonElement root = default;
        var isJson = false;
        try
        {
            using var doc = JsonDocument.Parse(answer);
            root = doc.RootElement.Clone();
            isJson = root.ValueKind == JsonValueKind.Object;
        }
        catch (JsonException)
        {
        }
        if (response.IsSuccessStatusCode)
        {
            if (isJson && root.TryGetProperty("seq", out var seq) && seq.TryGetInt64(out var s))
            {
                var dup = root.TryGetProperty("dup", out var d) && d.ValueKind == JsonValueKind.True;
                return PublishOutcome.Applied(s, dup);
            }
            return PublishOutcome.Failed(PublishOutcomeKind.Halt, "unknown", $"HTTP {status} without a Lockstep answer: is the server URL right?", status);
        }
        if (isJson && root.TryGetProperty("code", out var c) && c.GetString() is { Length: > 0 } code)
        {
            var message = root.TryGetProperty("detail", out var m) ? m.GetString() ?? code : code;
            if (code is "unauthorized" or "forbidden")
            {
                return PublishOutcome.Failed(PublishOutcomeKind.Halt, code, message, status);
            }
            var transient = root.TryGetProperty("transient", out var t) ? t.ValueKind == JsonValueKind.True : status >= 500;
            return PublishOutcome.Failed(transient ? PublishOutcomeKind.Transient : PublishOutcomeKind.Refused, code, message, status, retryAfter);
        }
        var reason = $"HTTP {status} {response.ReasonPhrase}".TrimEnd();
        return status is (int)HttpStatusCode.RequestTimeout or (int)HttpStatusCode.TooManyRequests or >= 500
            ? PublishOutcome.Failed(PublishOutcomeKind.Transient, "http_" + status.ToString(CultureInfo.InvariantCulture), reason, status, retryAfter)
            : PublishOutcome.Failed(PublishOutcomeKind.Halt, "http_" + status.ToString(CultureInfo.InvariantCulture), reason + " without a Lockstep problem: is the server URL right?", status);
    }

    /// <summary>Disposes the HTTP client when it is the delivery's own.</summary>
    public void Dispose()
    {
        if (_ownsHttp)
        {
            _http.Dispose();
        }
    }
}
