using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Lockstep.Protocol;

namespace Lockstep.Client;

/// <summary>
/// A consumer group's HTTP API as one member calls it (docs/microservices.md): <c>claim</c>, <c>changes</c>,
/// <c>commit</c>, <c>leave</c>, with the bodies typed by Lockstep.Protocol. Tries the servers in turn: a request that
/// cannot reach one moves the next request to the next. Thread-safe.
/// </summary>
internal sealed class ConsumerGroupApi : IDisposable
{
    private readonly Uri[] _urls;
    private readonly string _group;
    private readonly string _member;
    private readonly Func<CancellationToken, ValueTask<string?>>? _tokenProvider;
    private readonly HttpClient _http = new() { Timeout = Timeout.InfiniteTimeSpan };
    private int _urlIndex;

    public ConsumerGroupApi(Uri[] urls, string group, string member, Func<CancellationToken, ValueTask<string?>>? tokenProvider)
    {
        _urls = urls;
        _group = group;
        _member = member;
        _tokenProvider = tokenProvider;
    }

    /// <summary>Joins or renews; the member's share after rebalancing.</summary>
    public async Task<IReadOnlyList<GroupAssignment>> ClaimAsync(IEnumerable<string> collections, int partitions, TimeSpan lease, CancellationToken cancellationToken)
    {
        using var answer = await PostAsync("claim", new JsonObject
        {
            ["member"] = _member,
            ["collections"] = new JsonArray([.. collections.Select(c => JsonValue.Create(c))]),
            ["partitions"] = partitions,
            ["leaseMs"] = (long)lease.TotalMilliseconds,
        }, cancellationToken).ConfigureAwait(false);
        return GroupAssignment.TryReadAll(answer.RootElement, out var assigned)
            ? assigned
            : throw new FormatException("The server's claim answer has no well-formed 'assigned'.");
    }

    /// <summary>The changes of the partitions after the given positions, waiting up to two seconds for some.</summary>
    public async Task<GroupChanges> ChangesAsync(IEnumerable<(int Partition, long From)> from, int limit, CancellationToken cancellationToken)
    {
        var positions = string.Join(',', from.Select(f => FormattableString.Invariant($"{f.Partition}:{f.From}")));
        using var answer = await SendAsync(HttpMethod.Get,
            FormattableString.Invariant($"{GroupPath}/changes?member={Uri.EscapeDataString(_member)}&from={positions}&limit={limit}&wait=2"),
            null, cancellationToken).ConfigureAwait(false);
        return GroupChanges.TryRead(answer.RootElement, out var changes)
            ? changes
            : throw new FormatException("The server's changes answer is not well formed.");
    }

    /// <summary>Commits the positions; a refusal (<c>lease_lost</c>, with the partition in <c>Data["op"]</c>) throws.</summary>
    public async Task CommitAsync(IEnumerable<GroupCommit> commits, CancellationToken cancellationToken)
    {
        using var answer = await PostAsync("commit", new JsonObject { ["member"] = _member, ["commits"] = GroupCommit.ToJson(commits) }, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Leaves the group, so the others take its partitions at once.</summary>
    public async Task LeaveAsync(CancellationToken cancellationToken)
    {
        using var answer = await PostAsync("leave", new JsonObject { ["member"] = _member }, cancellationToken).ConfigureAwait(false);
    }

    public void Dispose() => _http.Dispose();

    private string GroupPath => "groups/" + Uri.EscapeDataString(_group);

    private Task<JsonDocument> PostAsync(string action, JsonObject body, CancellationToken cancellationToken) =>
        SendAsync(HttpMethod.Post, $"{GroupPath}/{action}", body, cancellationToken);

    private async Task<JsonDocument> SendAsync(HttpMethod method, string path, JsonObject? body, CancellationToken cancellationToken)
    {
        var url = _urls[Volatile.Read(ref _urlIndex) % _urls.Length];
        using var request = new HttpRequestMessage(method, new Uri(url, path));
        if (body is not null)
        {
            request.Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json");
        }
        if (_tokenProvider is not null && await _tokenProvider(cancellationToken).ConfigureAwait(false) is { Length: > 0 } token)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }
        HttpResponseMessage response;
        try
        {
            response = await _http.SendAsync(request, cancellationToken).ConfigureAwait(false);
        }
        catch (HttpRequestException)
        {
            Interlocked.Increment(ref _urlIndex); // the next server, next time
            throw;
        }
        using (response)
        {
            if (!response.IsSuccessStatusCode)
            {
                throw await RestResponses.RefusalAsync(response, cancellationToken).ConfigureAwait(false);
            }
            var text = await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                return JsonDocument.Parse(text.Length > 0 ? text : "{}"u8.ToArray());
            }
            catch (JsonException e)
            {
                throw new FormatException("The server's answer is not JSON.", e);
            }
        }
    }
}
