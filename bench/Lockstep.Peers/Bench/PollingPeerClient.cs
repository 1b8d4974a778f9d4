using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using Lockstep.Peers.Serve;

namespace Lockstep.Peers.Bench;

/// <summary>
/// HTTP/1.1 through <c>HttpClient</c>: the writer POSTs each update; each reader asks <c>GET /changes?after=SEQ</c>
/// every <c>interval</c> (a <c>PeriodicTimer</c>, so the interval is from poll start to poll start), or, long-polling,
/// again as soon as an answer arrives with <c>&amp;wait=30000</c>. The readers' requests go through the
/// <see cref="CountingConnector"/>, so their bytes include the HTTP headers of their requests and of the answers.
/// </summary>
internal sealed class PollingPeerClient : IPeerClient
{
    private const int LongPollWaitMs = 30_000;
    private readonly Uri _server;
    private readonly TimeSpan _interval;
    private readonly bool _longPoll;
    private readonly CountingConnector _counter;
    private readonly HttpClient _writer;
    private readonly HttpClient _readerClient;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _polls = [];
    private readonly List<Task> _pending = [];

    public PollingPeerClient(Uri server, TimeSpan interval, bool longPoll, CountingConnector counter)
    {
        _server = server;
        _interval = interval;
        _longPoll = longPoll;
        _counter = counter;
        _writer = new HttpClient { BaseAddress = server, Timeout = TimeSpan.FromSeconds(60) };
        _readerClient = new HttpClient(_counter.Handler, disposeHandler: false) { BaseAddress = server, Timeout = TimeSpan.FromSeconds(LongPollWaitMs / 1000 + 30) };
    }

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public async Task ConnectReadersAsync(int readers, ChangeSeen onSeen, CancellationToken cancellationToken)
    {
        for (var r = 0; r < readers; r++)
        {
            var first = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _polls.Add(Task.Run(() => PollAsync(onSeen, first, _stop.Token), CancellationToken.None));
            await first.Task.WaitAsync(TimeSpan.FromSeconds(30), cancellationToken);
        }
    }

    private async Task PollAsync(ChangeSeen onSeen, TaskCompletionSource first, CancellationToken cancellationToken)
    {
        var after = 0L;
        using var timer = new PeriodicTimer(_interval);
        try
        {
            while (true)
            {
                var wait = _longPoll && first.Task.IsCompleted ? "&wait=" + LongPollWaitMs.ToString(CultureInfo.InvariantCulture) : "";
                var page = await _readerClient.GetFromJsonAsync<ChangesPage>($"/changes?after={after.ToString(CultureInfo.InvariantCulture)}{wait}", JsonSerializerOptions.Web, cancellationToken)
                    ?? throw new IOException("GET /changes answered null");
                var at = Stopwatch.GetTimestamp();
                foreach (var change in page.Changes)
                {
                    if (FormWorkload.WriteNumber(change.Value) is { } write)
                    {
                        onSeen(write, at);
                    }
                }
                after = page.Last;
                first.TrySetResult();
                if (!_longPoll)
                {
                    await timer.WaitForNextTickAsync(cancellationToken);
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            first.TrySetException(e);
            throw;
        }
    }

    public Task SendAsync(long write, CancellationToken cancellationToken)
    {
        var ack = WriteAsync(write, cancellationToken);
        lock (_pending)
        {
            _pending.Add(ack);
        }
        return Task.CompletedTask;
    }

    public async Task WriteAsync(long write, CancellationToken cancellationToken)
    {
        using var response = await _writer.PostAsJsonAsync($"/docs/{FormWorkload.DocumentOf(write)}", new FieldUpdate(FormWorkload.Field, FormWorkload.Value(write)),
            JsonSerializerOptions.Web, cancellationToken);
        response.EnsureSuccessStatusCode();
    }

    public async Task DrainAsync(CancellationToken cancellationToken)
    {
        Task[] pending;
        lock (_pending)
        {
            pending = [.. _pending];
            _pending.Clear();
        }
        await Task.WhenAll(pending).WaitAsync(cancellationToken);
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        try
        {
            await Task.WhenAll(_polls);
        }
        catch (HttpRequestException)
        {
            // A poll cut off by the server's end; the run's figures are already taken.
        }
        _readerClient.Dispose();
        _writer.Dispose();
        _stop.Dispose();
    }
}
