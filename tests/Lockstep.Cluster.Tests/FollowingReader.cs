using System.Net.WebSockets;
using System.Text;
using System.Text.Json.Nodes;

namespace Lockstep.Cluster.Tests;

/// <summary>
/// A raw protocol subscriber that moves to the next node when its node dies and resumes from its
/// cursor, recording every change frame it gets, so a test can check that across all its connections
/// it saw each change of the collection once, in seq order.
/// </summary>
public sealed class FollowingReader : IAsyncDisposable
{
    private readonly Func<Uri[]> _urls;
    private readonly string _collection;
    private readonly CancellationTokenSource _stop = new();
    private readonly Lock _gate = new();
    private readonly Task _loop;
    private long _cursor;
    private bool _subscribed;

    public FollowingReader(Func<Uri[]> urls, string collection, int start)
    {
        _urls = urls;
        _collection = collection;
        NodeIndex = start;
        _loop = Task.Run(RunAsync);
    }

    public int NodeIndex { get; private set; }

    public List<(long Seq, string Id, long Version)> Changes { get; } = [];

    public List<string> Violations { get; } = [];

    public int Connections { get; private set; }

    public TaskCompletionSource Live { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public long Cursor
    {
        get
        {
            lock (_gate)
            {
                return _cursor;
            }
        }
    }

    private async Task RunAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            var urls = _urls();
            var url = urls[NodeIndex % urls.Length];
            try
            {
                using var socket = new ClientWebSocket();
                using var connectTimeout = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
                connectTimeout.CancelAfter(TimeSpan.FromSeconds(2));
                await socket.ConnectAsync(url, connectTimeout.Token);
                Connections++;
                var hello = new JsonObject { ["t"] = "hello", ["id"] = 1, ["clientId"] = "reader-" + Guid.NewGuid().ToString("N")[..6] };
                if (_subscribed)
                {
                    hello["cursor"] = Cursor;
                    hello["subs"] = new JsonArray(new JsonObject { ["sub"] = "s", ["collection"] = _collection });
                }
                await SendAsync(socket, hello);
                if (!_subscribed)
                {
                    await SendAsync(socket, new JsonObject { ["t"] = "sub", ["id"] = 2, ["sub"] = "s", ["collection"] = _collection });
                }
                await ReadAsync(socket);
            }
            catch (Exception e) when (e is WebSocketException or OperationCanceledException or IOException or System.Net.Http.HttpRequestException)
            {
            }
            if (!_stop.IsCancellationRequested)
            {
                NodeIndex++;
                await Task.Delay(50);
            }
        }
    }

    private async Task ReadAsync(ClientWebSocket socket)
    {
        var buffer = new byte[1 << 16];
        var message = new MemoryStream();
        while (!_stop.IsCancellationRequested)
        {
            var result = await socket.ReceiveAsync(buffer, _stop.Token);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                return;
            }
            message.Write(buffer, 0, result.Count);
            if (!result.EndOfMessage)
            {
                continue;
            }
            var frame = JsonNode.Parse(message.ToArray())!.AsObject();
            message.SetLength(0);
            Handle(frame);
        }
    }

    private void Handle(JsonObject frame)
    {
        lock (_gate)
        {
            switch ((string?)frame["t"])
            {
                case "welcome" when _subscribed && (bool?)frame["resumable"] != true:
                    Violations.Add($"resume refused at cursor {_cursor}: {frame.ToJsonString()}");
                    break;
                case "snapshot":
                    if (_subscribed)
                    {
                        Violations.Add("unexpected snapshot after the first: " + frame.ToJsonString());
                    }
                    _cursor = Math.Max(_cursor, (long)frame["seq"]!);
                    if ((bool?)frame["last"] == true)
                    {
                        _subscribed = true;
                        Live.TrySetResult();
                    }
                    break;
                case "chg":
                    var seq = (long)frame["seq"]!;
                    if (seq <= _cursor)
                    {
                        Violations.Add($"change {seq} repeated or out of order (cursor {_cursor})");
                    }
                    Changes.Add((seq, (string)frame["id"]!, (long)frame["v"]!));
                    _cursor = Math.Max(_cursor, seq);
                    break;
                case "subscribed":
                case "pos":
                    _cursor = Math.Max(_cursor, (long)frame["seq"]!);
                    break;
                case "error":
                    Violations.Add("error: " + frame.ToJsonString());
                    break;
            }
        }
    }

    private static Task SendAsync(ClientWebSocket socket, JsonObject frame) =>
        socket.SendAsync(Encoding.UTF8.GetBytes(frame.ToJsonString()), WebSocketMessageType.Text, true, CancellationToken.None);

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        try
        {
            await _loop;
        }
        catch (OperationCanceledException)
        {
        }
        _stop.Dispose();
    }
}
