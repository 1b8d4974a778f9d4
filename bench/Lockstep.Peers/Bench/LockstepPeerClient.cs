using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Lockstep.Cli.Bench;
using Lockstep.Protocol;

namespace Lockstep.Peers.Bench;

/// <summary>
/// The Lockstep protocol over raw WebSockets (<c>lockstep bench</c>'s <see cref="BenchConnection"/>): the writer puts the
/// forms into a fresh collection, then patches <c>{"f07": value}</c>; each reader subscribes to the collection and sees
/// the change frames. A write's durable ack is the server's <c>ack</c> frame for its <c>mut</c>.
/// </summary>
internal sealed class LockstepPeerClient : IPeerClient
{
    private readonly Uri _sync;
    private readonly IFrameCodec _codec;
    private readonly CountingConnector _counter;
    private readonly string _collection = "forms-" + Guid.NewGuid().ToString("N")[..8];
    private readonly List<BenchConnection> _readers = [];
    private readonly SemaphoreSlim _replies = new(0);
    private BenchConnection _writer = null!;
    private long _refused;
    private long _sent;

    public LockstepPeerClient(Uri server, bool messagePack, CountingConnector counter)
    {
        _sync = new UriBuilder(server) { Scheme = "ws", Path = "/v1/sync" }.Uri;
        _codec = messagePack ? FrameCodecs.MessagePack : FrameCodecs.Json;
        _counter = counter;
    }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        _writer = await BenchConnection.ConnectAsync(_sync, "peer-writer-" + _collection, _codec, cancellationToken);
        _writer.OnFrame = (frame, _) =>
        {
            if (frame is ErrorFrame)
            {
                Interlocked.Increment(ref _refused);
            }
            if (frame is AckFrame or ErrorFrame)
            {
                _replies.Release();
            }
        };
        for (var d = 0; d < FormWorkload.Documents; d++)
        {
            var put = new MutationOp(OpKind.Put, _collection, FormWorkload.DocumentId(d)) { Doc = new RawJson(FormWorkload.NewForm(d).ToJsonString()) };
            await _writer.SendAsync(new MutateFrame(RawJson.Number(d), null, [put]), cancellationToken);
        }
        for (var d = 0; d < FormWorkload.Documents; d++)
        {
            await _replies.WaitAsync(cancellationToken);
        }
        ThrowIfRefused();
    }

    public async Task ConnectReadersAsync(int readers, ChangeSeen onSeen, CancellationToken cancellationToken)
    {
        for (var r = 0; r < readers; r++)
        {
            var subscribed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var hello = new HelloFrame(RawJson.Number(0)) { ClientId = $"peer-reader-{r.ToString(CultureInfo.InvariantCulture)}-{_collection}", Protocol = 1 };
            var reader = await BenchConnection.ConnectAsync(_sync, hello, _codec, _counter.Invoker, (frame, _) =>
            {
                var at = Stopwatch.GetTimestamp();
                switch (frame)
                {
                    case ChangeFrame change when WriteOf(change) is { } write:
                        onSeen(write, at);
                        break;
                    case SnapshotFrame { Last: true }:
                        subscribed.TrySetResult();
                        break;
                    case ErrorFrame error:
                        subscribed.TrySetException(new IOException($"the subscription was refused: {error.Code} {error.Message}"));
                        break;
                }
            }, cancellationToken);
            _readers.Add(reader);
            await reader.SendAsync(new SubscribeFrame(RawJson.Number(1), new SubscriptionSpec("f", _collection)), cancellationToken);
            await subscribed.Task.WaitAsync(TimeSpan.FromSeconds(30), cancellationToken);
        }
    }

    public Task SendAsync(long write, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _sent);
        return _writer.SendAsync(Patch(write), cancellationToken);
    }

    public async Task WriteAsync(long write, CancellationToken cancellationToken)
    {
        await _writer.SendAsync(Patch(write), cancellationToken);
        await _replies.WaitAsync(cancellationToken);
        ThrowIfRefused();
    }

    public async Task DrainAsync(CancellationToken cancellationToken)
    {
        for (var sent = Interlocked.Exchange(ref _sent, 0); sent > 0; sent--)
        {
            await _replies.WaitAsync(TimeSpan.FromSeconds(60), cancellationToken);
        }
        ThrowIfRefused();
    }

    private MutateFrame Patch(long write)
    {
        var set = "{\"" + FormWorkload.Field + "\":\"" + FormWorkload.Value(write) + "\"}";
        return new MutateFrame(RawJson.Number(write), null, [new MutationOp(OpKind.Patch, _collection, FormWorkload.DocumentOf(write)) { Set = new RawJson(set) }]);
    }

    private void ThrowIfRefused()
    {
        if (Interlocked.Read(ref _refused) > 0)
        {
            throw new IOException($"the server refused {Interlocked.Read(ref _refused)} writes");
        }
    }

    /// <summary>The write number in a delta's <c>f07</c>, or null.</summary>
    private static long? WriteOf(ChangeFrame change)
    {
        if (change.Kind != ChangeKind.Delta || change.Body is not { } body)
        {
            return null;
        }
        var reader = new Utf8JsonReader(Encoding.UTF8.GetBytes(body.Json));
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
        {
            return null;
        }
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var isField = reader.ValueTextEquals(FormWorkload.Field);
            reader.Read();
            if (isField && reader.TokenType == JsonTokenType.String)
            {
                return FormWorkload.WriteNumber(reader.GetString());
            }
            reader.Skip();
        }
        return null;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var reader in _readers)
        {
            await reader.DisposeAsync();
        }
        if (_writer is not null)
        {
            await _writer.DisposeAsync();
        }
        _replies.Dispose();
    }
}
