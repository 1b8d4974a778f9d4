using System.Buffers;
using System.Net.WebSockets;
using System.Security.Claims;
using System.Text;
using Lockstep.Protocol;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Xunit;

namespace Lockstep.Server.Tests.Engine;

/// <summary>
/// The session's dispatcher without a socket or Kestrel: a real engine over a SQLite file (its hosted services
/// started), and a peer that records what the dispatcher answered and what it handed to the pump.
/// </summary>
public sealed class RequestDispatcherTests : IAsyncLifetime
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "lockstep-dispatch-" + Guid.NewGuid().ToString("N"));
    private ServiceProvider _provider = null!;
    private List<IHostedService> _hosted = [];

    public async Task InitializeAsync()
    {
        var services = new ServiceCollection().AddLogging().AddSingleton<IConfiguration>(new ConfigurationBuilder().Build());
        services.AddLockstep(o =>
        {
            o.Auth.OpenToAnyone();
            o.RateLimitPerSecond = 1;
            o.RateLimitBurst = 3;
        }).AddSqliteStore(Path.Combine(_dir, "dispatch.db"));
        _provider = services.BuildServiceProvider();
        _hosted = [.. _provider.GetServices<IHostedService>()];
        foreach (var service in _hosted)
        {
            await service.StartAsync(CancellationToken.None);
        }
    }

    public async Task DisposeAsync()
    {
        foreach (var service in Enumerable.Reverse(_hosted))
        {
            await service.StopAsync(CancellationToken.None);
        }
        await _provider.DisposeAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        if (Directory.Exists(_dir))
        {
            Directory.Delete(_dir, recursive: true);
        }
    }

    private SessionServices Services => _provider.GetRequiredService<SessionServices>();

    private (RequestDispatcher Dispatcher, RecordingPeer Peer) Dispatcher(IFrameCodec? codec = null, string? clientId = "c1", Caller? caller = null)
    {
        var peer = new RecordingPeer(clientId, caller ?? Caller.Anonymous);
        // The reader is only asked for a frame's JSON spelling here; its socket is never read.
        var socket = WebSocket.CreateFromStream(Stream.Null, new WebSocketCreationOptions { IsServer = true });
        var reader = new FrameReader(socket, codec ?? FrameCodecs.Json, Services.Options.MaxFrameBytes, TimeProvider.System);
        return (new RequestDispatcher(peer, Services, reader, new RequestBudget(Services.Options.MaxFilterBytesPerConnection), null), peer);
    }

    private async Task<Lockstep.Core.StoredDocument?> GetAsync(string collection, string id, CancellationToken cancellationToken)
    {
        await using var reader = await Services.Store.BeginReadAsync(cancellationToken);
        return await reader.GetDocumentAsync(collection, id, cancellationToken);
    }

    private static ReadOnlyMemory<byte> Json(string text) => Encoding.UTF8.GetBytes(text);

    [Fact]
    public async Task A_ping_is_answered_at_once_with_the_log_head_and_the_same_id()
    {
        var (dispatcher, peer) = Dispatcher();
        await dispatcher.DispatchAsync(Json("{\"t\":\"mut\",\"id\":0,\"ops\":[{\"op\":\"put\",\"collection\":\"tasks\",\"id\":\"h\",\"doc\":{}}]}"), CancellationToken.None);
        Assert.IsType<AckFrame>(await peer.NextReplyAsync());
        await dispatcher.DispatchAsync(Json("{\"t\":\"ping\",\"id\":\"p-1\"}"), CancellationToken.None);

        var pong = Assert.IsType<PongFrame>(await peer.NextReplyAsync());
        Assert.Equal("\"p-1\"", pong.Id?.Json);
        Assert.Equal(1, pong.Head);
        Assert.Empty(peer.Commands);
    }

    [Fact]
    public async Task A_mutation_goes_to_the_sequencer_and_is_acknowledged_once_committed_with_its_seq()
    {
        var (dispatcher, peer) = Dispatcher();
        await dispatcher.DispatchAsync(Json("{\"t\":\"mut\",\"id\":1,\"mid\":1,\"ops\":[{\"op\":\"put\",\"collection\":\"tasks\",\"id\":\"a\",\"doc\":{\"n\":1}}]}"), CancellationToken.None);

        var ack = Assert.IsType<AckFrame>(await peer.NextReplyAsync());
        Assert.Equal("1", ack.Id?.Json);
        Assert.Equal(Services.FanOut.Head, ack.Seq);
        Assert.Equal(1, Assert.Single(ack.Results).Version);
        var stored = await GetAsync("tasks", "a", CancellationToken.None);
        Assert.Equal(1, stored!.Version);
    }

    [Fact]
    public async Task The_same_mutation_number_again_is_answered_from_the_first_commit_without_a_second_write()
    {
        var (dispatcher, peer) = Dispatcher();
        const string mut = "{\"t\":\"mut\",\"id\":1,\"mid\":5,\"ops\":[{\"op\":\"patch\",\"collection\":\"tasks\",\"id\":\"b\",\"set\":{\"n\":1}}]}";
        await dispatcher.DispatchAsync(Json(mut), CancellationToken.None);
        var first = Assert.IsType<AckFrame>(await peer.NextReplyAsync());
        await dispatcher.DispatchAsync(Json(mut), CancellationToken.None);
        var again = Assert.IsType<AckFrame>(await peer.NextReplyAsync());

        Assert.Equal(first.Seq, again.Seq);
        Assert.Equal(first.Seq, Services.FanOut.Head);
        Assert.Equal(1, (await GetAsync("tasks", "b", CancellationToken.None))!.Version);
    }

    [Fact]
    public async Task A_subscription_is_handed_to_the_pump_with_what_the_caller_may_read()
    {
        var (dispatcher, peer) = Dispatcher();
        await dispatcher.DispatchAsync(Json("{\"t\":\"sub\",\"id\":2,\"sub\":\"s\",\"collection\":\"tasks\",\"filter\":{\"done\":false}}"), CancellationToken.None);

        Assert.Empty(peer.Replies);
        var command = Assert.IsType<SubscribeCommand>(Assert.Single(peer.Commands));
        Assert.True(command.FromClient);
        Assert.Equal("tasks", command.Subscription.Collection);
        Assert.True(command.Subscription.Access.All);
        Assert.False(command.Subscription.Filter.MatchesAll);
    }

    [Fact]
    public async Task A_subscription_the_rules_refuse_is_answered_forbidden_and_never_reaches_the_pump()
    {
        var reader = Caller.Service("reader", ["read:tasks"], new ClaimsPrincipal());
        var (dispatcher, peer) = Dispatcher(caller: reader);
        await dispatcher.DispatchAsync(Json("{\"t\":\"sub\",\"id\":3,\"sub\":\"s\",\"collection\":\"payroll\"}"), CancellationToken.None);

        var error = Assert.IsType<ErrorFrame>(Assert.Single(peer.Replies));
        Assert.Equal((ErrorCodes.Forbidden.Code, "3"), (error.Code, error.Id?.Json));
        Assert.Empty(peer.Commands);
    }

    [Theory]
    [InlineData("not json", "bad_frame", null)]
    [InlineData("{\"id\":4}", "bad_frame", "4")]
    [InlineData("{\"t\":\"ping\"}", "invalid_request", null)]
    [InlineData("{\"t\":\"teleport\",\"id\":4}", "unknown_type", "4")]
    [InlineData("{\"t\":\"hello\",\"id\":4}", "invalid_request", "4")]
    [InlineData("{\"t\":\"mut\",\"id\":4,\"ops\":[]}", "invalid_request", "4")]
    [InlineData("{\"t\":\"sub\",\"id\":4,\"sub\":\"s\",\"collection\":\"Not A Name\"}", "invalid_request", "4")]
    public async Task A_bad_request_is_answered_with_its_stable_code_and_nothing_is_written_or_queued(string frame, string code, string? id)
    {
        var (dispatcher, peer) = Dispatcher();
        var head = Services.FanOut.Head;
        await dispatcher.DispatchAsync(Json(frame), CancellationToken.None);

        var error = Assert.IsType<ErrorFrame>(Assert.Single(peer.Replies));
        Assert.Equal((code, id), (error.Code, error.Id?.Json));
        Assert.Empty(peer.Commands);
        Assert.Equal(head, Services.FanOut.Head);
    }

    [Fact]
    public async Task A_numbered_mutation_from_a_connection_without_a_client_id_is_refused_not_applied()
    {
        var (dispatcher, peer) = Dispatcher(clientId: null);
        await dispatcher.DispatchAsync(Json("{\"t\":\"mut\",\"id\":5,\"mid\":1,\"ops\":[{\"op\":\"put\",\"collection\":\"tasks\",\"id\":\"c\",\"doc\":{}}]}"), CancellationToken.None);

        var error = Assert.IsType<ErrorFrame>(Assert.Single(peer.Replies));
        Assert.Equal(ErrorCodes.InvalidRequest.Code, error.Code);
        Assert.Null(await GetAsync("tasks", "c", CancellationToken.None));
    }

    [Fact]
    public async Task Past_the_burst_writes_are_answered_rate_limited_while_pings_still_are_answered()
    {
        var (dispatcher, peer) = Dispatcher();
        for (var i = 0; i < 10; i++)
        {
            await dispatcher.DispatchAsync(Json($"{{\"t\":\"mut\",\"id\":{i},\"ops\":[{{\"op\":\"put\",\"collection\":\"tasks\",\"id\":\"r{i}\",\"doc\":{{}}}}]}}"), CancellationToken.None);
        }
        await dispatcher.DispatchAsync(Json("{\"t\":\"ping\",\"id\":\"after\"}"), CancellationToken.None);

        var replies = await peer.RepliesAsync(11);
        Assert.Contains(replies, r => r is ErrorFrame { Code: "rate_limited" });
        Assert.Contains(replies, r => r is AckFrame);
        Assert.Contains(replies, r => r is PongFrame { Id: { Json: "\"after\"" } });
    }

    [Fact]
    public async Task A_MessagePack_frame_is_dispatched_as_its_JSON_spelling_is()
    {
        var codec = FrameCodecs.MessagePack;
        var (dispatcher, peer) = Dispatcher(codec);
        var buffer = new ArrayBufferWriter<byte>();
        codec.Write(new MutateFrame(RawJson.Number(9), 1, [new MutationOp(OpKind.Put, "tasks", "m") { Doc = new RawJson("{\"n\":2}") }]), buffer);
        await dispatcher.DispatchAsync(buffer.WrittenMemory, CancellationToken.None);

        var ack = Assert.IsType<AckFrame>(await peer.NextReplyAsync());
        Assert.Equal("9", ack.Id?.Json);
        Assert.Equal("{\"n\":2}", (await GetAsync("tasks", "m", CancellationToken.None))!.Json);

        await dispatcher.DispatchAsync(new byte[] { 0x93, 0xc1 }, CancellationToken.None);
        Assert.Equal(ErrorCodes.BadFrame.Code, Assert.IsType<ErrorFrame>(await peer.NextReplyAsync()).Code);
    }

    /// <summary>Stands in for the connection: keeps replies (as frames) and commands, in order.</summary>
    private sealed class RecordingPeer(string? clientId, Caller caller) : ISessionPeer
    {
        private readonly Lock _gate = new();
        private readonly List<Frame> _replies = [];
        private readonly SemaphoreSlim _arrived = new(0);
        private int _taken;

        public string Id => "s-test";

        public string? ClientId => clientId;

        public Caller? Caller => caller;

        public List<SessionCommand> Commands { get; } = [];

        public IReadOnlyList<Frame> Replies
        {
            get
            {
                lock (_gate)
                {
                    return [.. _replies];
                }
            }
        }

        public ValueTask ReplyAsync(Frame frame, CancellationToken cancellationToken)
        {
            lock (_gate)
            {
                _replies.Add(frame);
            }
            _arrived.Release();
            return ValueTask.CompletedTask;
        }

        /// <summary>The next reply not yet taken, waiting (bounded) for it: acks come when their batch commits.</summary>
        public async Task<Frame> NextReplyAsync()
        {
            Assert.True(await _arrived.WaitAsync(TimeSpan.FromSeconds(10)), "no reply within 10 s");
            lock (_gate)
            {
                return _replies[_taken++];
            }
        }

        public async Task<IReadOnlyList<Frame>> RepliesAsync(int count)
        {
            var frames = new List<Frame>();
            for (var i = 0; i < count; i++)
            {
                frames.Add(await NextReplyAsync());
            }
            return frames;
        }

        public ValueTask SendAsync(Frame frame, CancellationToken cancellationToken) =>
            throw new InvalidOperationException($"The dispatcher answers requests; the stream's frames ({frame.GetType().Name}) are the pump's.");

        public IFrameCodec Codec => FrameCodecs.Json;

        public ValueTask SendSharedAsync(SharedFrame frame, string sub, CancellationToken cancellationToken) =>
            throw new InvalidOperationException($"The dispatcher answers requests; the stream's frames (to {sub}) are the pump's.");

        public void Enqueue(SessionCommand command) => Commands.Add(command);

        public Task CloseAsync(int code, string reason) => throw new InvalidOperationException($"The dispatcher does not close the connection ({code} {reason}).");
    }
}
