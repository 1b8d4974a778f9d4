using System.Globalization;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Lockstep.Core;
using Lockstep.Protocol;
using Lockstep.Server.Rest;
using Microsoft.Extensions.Logging;
using Polly;
using Polly.CircuitBreaker;
using Polly.Timeout;

namespace Lockstep.Server;

/// <summary>
/// One webhook's delivery: reads the log after its cursor, POSTs the changes in batches in seq order,
/// and after each delivered (or dead-lettered) batch records the new cursor in
/// <see cref="SystemCollections.WebhookCursors"/> — under its version, so two deliverers never both
/// advance it. At least once: a crash between a delivery and its cursor write sends that batch again.
/// </summary>
internal sealed class WebhookChannel
{
    private readonly string _name;
    private readonly WebhookOptions _options;
    private readonly WebhookLog _log;
    private readonly HttpClient _http;
    private readonly ResiliencePipeline<HttpResponseMessage> _pipeline;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly byte[] _secret;
    private long _position;
    private string _state = "starting";
    private string? _lastError;

    public WebhookChannel(string name, WebhookOptions options, WebhookLog log, HttpClient http, ResiliencePipeline<HttpResponseMessage> pipeline, ILogger logger, TimeProvider time)
    {
        _name = name;
        _options = options;
        _log = log;
        _http = http;
        _pipeline = pipeline;
        _logger = logger;
        _time = time;
        _secret = Encoding.UTF8.GetBytes(options.Secret);
    }

    public string Name => _name;

    /// <summary>How far delivery has come, what it is doing, and its last error (for <c>GET /v1/webhooks</c>).</summary>
    public WebhookStatus Status => new(_name, _options.Url!, Interlocked.Read(ref _position), Volatile.Read(ref _state), Volatile.Read(ref _lastError));

    /// <summary>The endpoint's circuit breaker and per-request timeout (Polly v8).</summary>
    public static ResiliencePipeline<HttpResponseMessage> Pipeline(WebhookOptions options, TimeProvider time) =>
        new ResiliencePipelineBuilder<HttpResponseMessage> { TimeProvider = time }
            .AddCircuitBreaker(new CircuitBreakerStrategyOptions<HttpResponseMessage>
            {
                // Opens when every one of at least N requests in the last minute failed.
                FailureRatio = 1.0,
                MinimumThroughput = Math.Max(2, options.CircuitBreakerFailures),
                SamplingDuration = TimeSpan.FromMinutes(1),
                BreakDuration = options.CircuitBreakDuration,
                ShouldHandle = new PredicateBuilder<HttpResponseMessage>()
                    .Handle<HttpRequestException>()
                    .Handle<TimeoutRejectedException>()
                    .HandleResult(r => !r.IsSuccessStatusCode),
            })
            .AddTimeout(options.Timeout)
            .Build();

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                await DeliverAsync(cancellationToken);
                return; // the cursor moved elsewhere
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                Log.WebhookFailed(_logger, e, _name);
                await Task.Delay(_options.InitialBackoff, _time, cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
        }
    }

    private async Task DeliverAsync(CancellationToken cancellationToken)
    {
        var (position, version) = await LoadCursorAsync(cancellationToken);
        if (version == 0)
        {
            // A new webhook starts at the present: it delivers what is written from now on.
            if (await SaveAsync(position, version, null, cancellationToken) is not { } created)
            {
                return;
            }
            version = created;
        }
        Log.WebhookStarted(_logger, _name, position);
        Interlocked.Exchange(ref _position, position);
        IReadOnlyCollection<string>? collections = _options.Collections.Count > 0 ? _options.Collections : null;
        while (!cancellationToken.IsCancellationRequested)
        {
            IReadOnlyList<Change> page;
            long head;
            long horizon;
            await using (var reader = await _log.Store.BeginReadAsync(cancellationToken))
            {
                head = reader.Head;
                horizon = reader.Horizon;
                page = position < horizon ? [] : await reader.ReadChangesAsync(position, collections, _options.BatchSize, cancellationToken);
            }
            if (position < horizon)
            {
                // Delivery fell behind the log's retention: what was compacted cannot be sent. Say so, and go on.
                var gap = Gap(position, horizon);
                Log.WebhookGap(_logger, _name, position + 1, horizon, gap.Id);
                if (await SaveAsync(horizon, version, gap, cancellationToken) is not { } saved)
                {
                    return;
                }
                (position, version) = (horizon, saved);
                continue;
            }
            Interlocked.Exchange(ref _position, position);
            if (page.Count == 0)
            {
                Volatile.Write(ref _state, "idle");
                using var poll = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                poll.CancelAfter(_log.PollInterval);
                await _log.FanOut.WaitPastAsync(head, poll.Token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                continue;
            }
            var events = page.Where(c => !SystemCollections.IsSystem(c.Collection)).ToList();
            if (events.Count == 0)
            {
                // Only the server's own bookkeeping: skipped without a cursor write (which would itself be a change).
                position = page[^1].Seq;
                continue;
            }
            var deadLetter = await SendAsync(events, cancellationToken);
            if (await SaveAsync(page[^1].Seq, version, deadLetter, cancellationToken) is not { } next)
            {
                return;
            }
            (position, version) = (page[^1].Seq, next);
        }
    }

    /// <summary>Sends one batch until it is accepted (null) or its attempts run out (the dead letter to record).</summary>
    private async Task<DeadLetter?> SendAsync(List<Change> events, CancellationToken cancellationToken)
    {
        var delivery = $"{_name}:{events[0].Seq}-{events[^1].Seq}";
        var body = Body(delivery, events);
        var attempts = 0;
        string error;
        Volatile.Write(ref _state, "delivering");
        while (true)
        {
            try
            {
                using var response = await _pipeline.ExecuteAsync(async ct =>
                {
                    attempts++;
                    using var request = Request(delivery, body);
                    return await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
                }, cancellationToken);
                if (response.IsSuccessStatusCode)
                {
                    Volatile.Write(ref _lastError, null);
                    return null;
                }
                error = $"HTTP {(int)response.StatusCode}";
            }
            catch (BrokenCircuitException e)
            {
                // The endpoint's circuit is open: nothing is sent, and no attempt is spent, until it half-opens.
                Volatile.Write(ref _state, "circuit-open");
                await Task.Delay(e.RetryAfter ?? _options.CircuitBreakDuration, _time, cancellationToken);
                continue;
            }
            catch (Exception e) when (e is HttpRequestException or TimeoutRejectedException)
            {
                // lastError is read through the API: our words, not the socket layer's (addresses, inner exceptions).
                error = Describe(e);
                Log.WebhookAttemptError(_logger, _name, e.Message);
            }
            Log.WebhookAttemptFailed(_logger, _name, attempts, _options.MaxAttempts, events[0].Seq, events[^1].Seq, error);
            Volatile.Write(ref _lastError, error);
            Volatile.Write(ref _state, "retrying");
            if (attempts >= _options.MaxAttempts)
            {
                var letter = new DeadLetter($"{_name}-{events[0].Seq}-{events[^1].Seq}", events, attempts, error);
                Log.WebhookDeadLettered(_logger, _name, events[0].Seq, events[^1].Seq, attempts, letter.Id);
                return letter;
            }
            await Task.Delay(Backoff(attempts), _time, cancellationToken);
        }
    }

    private static string Describe(Exception failure) => failure switch
    {
        TimeoutRejectedException => "timed out",
        HttpRequestException { HttpRequestError: HttpRequestError.NameResolutionError } => "the host name did not resolve",
        HttpRequestException { HttpRequestError: HttpRequestError.ConnectionError } => "the connection failed",
        HttpRequestException { HttpRequestError: HttpRequestError.SecureConnectionError } => "the TLS handshake failed",
        HttpRequestException { HttpRequestError: HttpRequestError.HttpProtocolError or HttpRequestError.InvalidResponse or HttpRequestError.ResponseEnded } => "the answer was not valid HTTP",
        _ => "the request failed",
    };

    /// <summary>
    /// Sends a dead letter's changes again, read back from the log, with the usual attempts; on success
    /// the dead letter is deleted. The replay goes out of band: its changes are older than what was
    /// delivered since (receivers order and deduplicate by seq).
    /// </summary>
    public async Task<(int Replayed, Rejection? Refusal)> ReplayAsync(string deadLetterId, CancellationToken cancellationToken)
    {
        // Read what to send, then let go of the read before any network I/O (which may retry for minutes).
        List<Change> events;
        await using (var reader = await _log.Store.BeginReadAsync(cancellationToken))
        {
            var doc = await reader.GetDocumentAsync(SystemCollections.WebhookDeadLetters, deadLetterId, cancellationToken);
            if (doc is not { Deleted: false, Json: { } json } || DeadLetterBody.Parse(json) is not { } letter || letter.Webhook != _name)
            {
                return (0, new Rejection(ErrorCodes.NotFound, $"Webhook '{_name}' has no dead letter '{deadLetterId}'."));
            }
            var listed = letter.Events.Select(e => (e.Seq, e.Collection)).ToList();
            if (listed.Count == 0)
            {
                return (0, new Rejection(ErrorCodes.InvalidRequest, $"'{deadLetterId}' records a gap: its changes were compacted before delivery and cannot be sent."));
            }
            var wanted = listed.Select(e => e.Item1).ToHashSet();
            var first = wanted.Min();
            var changes = await reader.ReadChangesAsync(first - 1, [.. listed.Select(e => e.Item2).Distinct(StringComparer.Ordinal)],
                (int)Math.Min(int.MaxValue, wanted.Max() - first + 1), cancellationToken);
            events = [.. changes.Where(c => wanted.Contains(c.Seq))];
            if (events.Count != wanted.Count)
            {
                return (0, new Rejection(ErrorCodes.CursorExpired, $"Some changes of '{deadLetterId}' were compacted out of the log; they cannot be sent again."));
            }
        }
        if (await SendAsync(events, cancellationToken) is { } failed)
        {
            return (0, new Rejection(ErrorCodes.DeliveryFailed, $"The endpoint refused the replay again ({failed.Attempts} attempts): {failed.LastError}. The dead letter stays."));
        }
        var deleted = await _log.Sequencer.SubmitAsync(new WriteRequest([new DeleteOp(SystemCollections.WebhookDeadLetters, deadLetterId)], null, null), cancellationToken);
        return (events.Count, deleted.Rejection);
    }

    /// <summary>Exponential backoff with jitter: a random delay up to InitialBackoff × 2^(attempt−1), capped, and never under half of InitialBackoff.</summary>
    private TimeSpan Backoff(int attempt)
    {
        var ceiling = Math.Min(_options.MaxBackoff.TotalMilliseconds, _options.InitialBackoff.TotalMilliseconds * Math.Pow(2, Math.Min(attempt - 1, 30)));
        return TimeSpan.FromMilliseconds(Math.Max(_options.InitialBackoff.TotalMilliseconds / 2, Random.Shared.NextDouble() * ceiling));
    }

    private HttpRequestMessage Request(string delivery, byte[] body)
    {
        var timestamp = _time.GetUtcNow().ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
        var request = new HttpRequestMessage(HttpMethod.Post, _options.Url) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        request.Headers.Add("Lockstep-Webhook", _name);
        request.Headers.Add("Lockstep-Delivery", delivery);
        request.Headers.Add("Lockstep-Signature", $"t={timestamp},v1={Sign(_secret, timestamp, body)}");
        return request;
    }

    /// <summary>The signature: hex HMAC-SHA256 of "<c>{t}.{body}</c>" with the webhook's secret (the receiver recomputes and compares it, and checks t is recent).</summary>
    public static string Sign(byte[] secret, string timestamp, byte[] body)
    {
        var signed = new byte[timestamp.Length + 1 + body.Length];
        Encoding.ASCII.GetBytes(timestamp, signed);
        signed[timestamp.Length] = (byte)'.';
        body.CopyTo(signed, timestamp.Length + 1);
        return Convert.ToHexStringLower(HMACSHA256.HashData(secret, signed));
    }

    private byte[] Body(string delivery, List<Change> events)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, LockstepJson.WriterOptions))
        {
            w.WriteStartObject();
            w.WriteString("webhook", _name);
            w.WriteString("delivery", delivery);
            w.WriteStartArray("events");
            foreach (var change in events)
            {
                JsonBodies.WriteFeedChange(w, Frames.Feed(change, reader: null)); // a URL, not a caller: no one's client ids
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return buffer.ToArray();
    }

    private async Task<(long Seq, long Version)> LoadCursorAsync(CancellationToken cancellationToken)
    {
        await using var reader = await _log.Store.BeginReadAsync(cancellationToken);
        var doc = await reader.GetDocumentAsync(SystemCollections.WebhookCursors, _name, cancellationToken);
        if (doc is { Deleted: false, Json: { } json } && WebhookCursorBody.ReadSeq(json) is { } seq)
        {
            return (seq, doc.Version);
        }
        return (reader.Head, doc?.Version ?? 0);
    }

    /// <summary>Moves the cursor (and records a dead letter with it, atomically); the new version, or null when another deliverer moved it first.</summary>
    private async Task<long?> SaveAsync(long seq, long version, DeadLetter? deadLetter, CancellationToken cancellationToken)
    {
        var cursor = new WebhookCursorBody(seq, _options.Url!.ToString(), _time.GetUtcNow().ToString("O", CultureInfo.InvariantCulture)).ToJson();
        var ops = new List<DocumentOp> { new PutOp(SystemCollections.WebhookCursors, _name, cursor) { IfVersion = version } };
        if (deadLetter is not null)
        {
            ops.Add(new PutOp(SystemCollections.WebhookDeadLetters, deadLetter.Id, deadLetter.ToJson(_name, _options.Url!, _time.GetUtcNow())));
        }
        var result = await _log.Sequencer.SubmitAsync(new WriteRequest(ops, null, null), cancellationToken);
        if (result.Rejection is { } rejection)
        {
            if (rejection.Error == ErrorCodes.VersionConflict)
            {
                Log.WebhookCursorLost(_logger, _name, rejection.Error.Code);
                return null;
            }
            throw new IOException($"Webhook {_name}: the cursor could not be saved: {rejection.Error.Code} {rejection.Message}");
        }
        return result.Results[0].Version;
    }

    private static DeadLetter Gap(long position, long horizon) =>
        new($"gap-{position + 1}-{horizon}", [], 0, $"Changes {position + 1}-{horizon} were compacted out of the log before they could be delivered.");
}
