using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using Lockstep.Protocol;

namespace Lockstep.Outbox;

/// <summary>
/// Delivers one outbox row to the server: a <c>POST /v1/mutations</c> under the outbox's client id with the
/// row's id as the mutation id, with the relay's credentials and request timeout, and classifies the answer
/// as applied, refused, transient or halting (<see cref="PublishOutcome"/>). It never retries; the relay does.
/// The body and the answer are the protocol's (<see cref="MutationBodies"/>); here is only HTTP.
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
        if (!MutationBodies.TryWriteRequest(clientId, id, mutation, out var body, out var error))
        {
            // Only a row written around Outbox.Enqueue gets here; the server is never asked.
            return PublishOutcome.Failed(PublishOutcomeKind.Refused, ErrorCodes.InvalidRequest.Code, "The stored mutation is not a JSON object: " + error);
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
        if (response.IsSuccessStatusCode)
        {
            return MutationBodies.TryReadAnswer(answer, out var ack)
                ? PublishOutcome.Applied(ack.Seq, ack.Dup)
                : PublishOutcome.Failed(PublishOutcomeKind.Halt, "unknown", $"HTTP {status} without a Lockstep answer: is the server URL right?", status);
        }
        if (ProblemBody.TryRead(answer, out var problem))
        {
            var code = problem.Code;
            var message = problem.Detail.Length > 0 ? problem.Detail : code;
            if (code == ErrorCodes.Unauthorized.Code || code == ErrorCodes.Forbidden.Code)
            {
                return PublishOutcome.Failed(PublishOutcomeKind.Halt, code, message, status);
            }
            var transient = problem.Transient ?? status >= 500;
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
