using System.Collections.Concurrent;
using System.Text.Json;
using System.Text.Json.Nodes;
using Lockstep.Core;
using Lockstep.Server;
using Lockstep.Server.Tests;
using Xunit;

namespace Lockstep.Client.Tests;

public sealed class ClientTests : IAsyncLifetime
{
    private TestServer _server = null!;

    public async Task InitializeAsync() => _server = await TestServer.StartAsync(
        o => o.Collection("approvals", ConflictPolicy.Strict),
        b => b.AddMutator("reserve", ReserveAsync));

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private static async ValueTask<JsonNode?> ReserveAsync(MutatorContext context, JsonElement args, CancellationToken cancellationToken)
    {
        var collection = args.GetProperty("collection").GetString()!;
        var item = await context.GetAsync(collection, "sku", cancellationToken);
        var available = (int?)item?["available"] ?? 0;
        if (available < 1)
        {
            MutatorContext.Reject("out_of_stock", "Nothing left.");
        }
        await context.IncrementAsync(collection, "sku", "available", -1, cancellationToken);
        return new JsonObject { ["left"] = available - 1 };
    }

    private sealed record Form(string Title, int Priority, string? Owner);

    [Theory]
    [MemberData(nameof(Harness.Encodings), MemberType = typeof(Harness))]
    public async Task A_write_shows_locally_at_once_and_its_ack_means_the_server_has_it(LockstepEncoding encoding)
    {
        await using var client = Harness.Client(_server.SyncUrl, encoding);
        var tasks = client.Collection(Harness.Unique("tasks"));
        var write = tasks.PutAsync("t1", new JsonObject { ["title"] = "Write spec" });

        Assert.Equal("Write spec", (string?)tasks.Get("t1")?["title"]);
        Assert.Equal(1, client.PendingCount);

        await client.StartAsync();
        var ack = await write.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(1, ack.Results[0].Version);
        Assert.False(ack.Duplicate);
        Assert.Equal(0, client.PendingCount);
        Assert.Equal("Write spec", (string?)(await Harness.GetAsync(_server.Http, tasks.Name, "t1"))?["title"]);
    }

    [Theory]
    [MemberData(nameof(Harness.Encodings), MemberType = typeof(Harness))]
    public async Task A_subscription_gets_a_snapshot_then_deltas_and_the_hook_sees_only_remote_changes(LockstepEncoding encoding)
    {
        var name = Harness.Unique("forms");
        await Harness.PutAsync(_server.Http, name, "f1", """{"title":"Q3","priority":1}""");
        await using var client = Harness.Client(_server.SyncUrl, encoding);
        await client.StartAsync();
        var forms = client.Collection(name);
        var updates = new ConcurrentQueue<(RemoteUpdate Update, JsonObject? Local)>();
        using var hook = forms.OnRemoteUpdate((delta, local) => updates.Enqueue((delta, local)));
        await using var query = forms.Subscribe();
        await query.ReadyAsync().WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal("Q3", (string?)query.Documents["f1"]["title"]);
        await Harness.EventuallyAsync(() => updates.Count == 1);
        Assert.Equal(RemoteUpdateKind.Entered, updates.Single().Update.Kind);

        // A remote one-field change: the hook gets just that field, and the whole local state.
        using (var content = new StringContent("""{"priority":2}""", System.Text.Encoding.UTF8, "application/merge-patch+json"))
        {
            (await _server.Http.PatchAsync($"/v1/collections/{name}/docs/f1", content)).EnsureSuccessStatusCode();
        }
        await Harness.EventuallyAsync(() => updates.Count == 2);
        var (update, localState) = updates.Last();
        Assert.Equal(RemoteUpdateKind.Changed, update.Kind);
        Assert.Equal(2, update.Version);
        Assert.Equal("""{"priority":2}""", update.Set.ToJsonString());
        Assert.Equal("Q3", (string?)localState?["title"]);
        Assert.Equal(2, (int?)localState?["priority"]);

        // This client's own write is not "remote": no hook call, but the view has it.
        await forms.PatchAsync("f1", new { title = "Q4" });
        await Harness.EventuallyAsync(() => forms.GetVersion("f1") == 3);
        await Task.Delay(100);
        Assert.Equal(2, updates.Count);
        Assert.Equal("Q4", (string?)forms.Get("f1")?["title"]);
    }

    [Theory]
    [MemberData(nameof(Harness.Encodings), MemberType = typeof(Harness))]
    public async Task A_refused_write_returns_local_state_to_server_truth_and_faults_with_the_current_document(LockstepEncoding encoding)
    {
        await using var client = Harness.Client(_server.SyncUrl, encoding);
        await client.StartAsync();
        var approvals = client.Collection("approvals");
        var id = Harness.Unique("req");
        await using var query = approvals.Subscribe(new { kind = id });
        await query.ReadyAsync();
        await approvals.PutAsync(id, new JsonObject { ["kind"] = id, ["status"] = "submitted" }, ifVersion: 0);
        await Harness.EventuallyAsync(() => approvals.GetVersion(id) == 1);

        // Someone else decides first.
        using (var content = new StringContent($$"""{"kind":"{{id}}","status":"rejected"}""", System.Text.Encoding.UTF8, "application/json"))
        {
            using var request = new HttpRequestMessage(HttpMethod.Put, $"/v1/collections/approvals/docs/{id}") { Content = content };
            request.Headers.TryAddWithoutValidation("If-Match", "\"1\"");
            (await _server.Http.SendAsync(request)).EnsureSuccessStatusCode();
        }
        // This client still thinks version 1 is current and approves; the view shows it at once.
        var stale = approvals.PatchAsync(id, new { status = "approved" }, ifVersion: 1);
        var error = await Assert.ThrowsAsync<VersionConflictException>(() => stale);

        Assert.Equal("version_conflict", error.Code);
        Assert.Equal(2, error.CurrentVersion);
        Assert.Equal("rejected", (string?)error.Current?["doc"]?["status"]);
        await Harness.EventuallyAsync(() => (string?)approvals.Get(id)?["status"] == "rejected");
        Assert.Equal(0, client.PendingCount);

        // strict: a write without ifVersion is refused too.
        var unversioned = await Assert.ThrowsAsync<VersionConflictException>(() => approvals.PatchAsync(id, new { status = "draft" }));
        Assert.Equal("precondition_required", unversioned.Code);
    }

    [Theory]
    [MemberData(nameof(Harness.Encodings), MemberType = typeof(Harness))]
    public async Task A_mutator_call_is_applied_once_and_a_refusal_carries_its_reason(LockstepEncoding encoding)
    {
        var name = Harness.Unique("stock");
        await Harness.PutAsync(_server.Http, name, "sku", """{"available":1}""");
        await using var client = Harness.Client(_server.SyncUrl, encoding);
        await client.StartAsync();

        var ack = await client.CallAsync("reserve", new JsonObject { ["collection"] = name });
        Assert.Equal(0, (int?)ack.Result?["left"]);
        var refused = await Assert.ThrowsAsync<MutationRejectedException>(() => client.CallAsync("reserve", new JsonObject { ["collection"] = name }));
        Assert.Equal("out_of_stock", refused.Reason);
        var unknown = await Assert.ThrowsAsync<LockstepException>(() => client.CallAsync("nope", null));
        Assert.Equal("unknown_mutator", unknown.Code);
        Assert.Equal(0, (int?)(await Harness.GetAsync(_server.Http, name, "sku"))?["available"]);
    }

    [Fact]
    public async Task A_typed_live_query_follows_its_filter_as_documents_enter_and_leave_it()
    {
        var name = Harness.Unique("forms");
        await using var client = Harness.Client(_server.SyncUrl);
        await client.StartAsync();
        var forms = client.Collection<Form>(name);
        await using var urgent = forms.Subscribe(new { priority = new Dictionary<string, object> { ["$gte"] = 2 } });
        await urgent.ReadyAsync();
        var changes = new ConcurrentQueue<DocumentChange<Form>>();
        urgent.Changed += (_, change) => changes.Enqueue(change);

        await forms.PutAsync("a", new Form("A", 3, "ana"));
        await forms.PutAsync("b", new Form("B", 1, null));
        await Harness.PutAsync(_server.Http, name, "c", """{"title":"C","priority":5}""");
        await Harness.EventuallyAsync(() => urgent.Count == 2);
        Assert.Equal(["A", "C"], urgent.Results.Select(f => f.Title));

        await Harness.PutAsync(_server.Http, name, "a", """{"title":"A","priority":0}""");
        await Harness.EventuallyAsync(() => urgent.Count == 1);
        Assert.Equal("C", urgent.Results.Single().Title);
        await Harness.EventuallyAsync(() => changes.Any(c => c.Id == "a" && c.Document is null && c.IsRemote));
        Assert.Null(forms.Get("b"));
    }

    [Theory]
    [MemberData(nameof(Harness.Encodings), MemberType = typeof(Harness))]
    public async Task Writes_made_offline_are_queued_and_each_applied_once_when_the_server_is_reachable(LockstepEncoding encoding)
    {
        await using var proxy = new FaultProxy(_server.HttpUrl) { RefuseNew = true };
        await using var client = Harness.Client(proxy.SyncUrl, encoding);
        var states = new ConcurrentQueue<ConnectionState>();
        client.StateChanged += (_, s) => states.Enqueue(s);
        client.Start();
        var name = Harness.Unique("counters");
        var counters = client.Collection(name);
        var writes = Enumerable.Range(0, 20).Select(_ => counters.IncrementAsync("c", "n")).ToList();

        Assert.Equal(20, client.PendingCount);
        Assert.Equal(20, (int?)counters.Get("c")?["n"]);
        // Refused until the client has seen itself offline: lifting the refusal earlier could let a
        // connection attempt still on its way through (a loaded machine), and nothing would be offline.
        await Harness.EventuallyAsync(() => states.Contains(ConnectionState.Offline));
        Assert.NotEqual(ConnectionState.Online, client.State);
        Assert.Equal(20, client.PendingCount);

        proxy.RefuseNew = false;
        await Task.WhenAll(writes).WaitAsync(TimeSpan.FromSeconds(15));

        Assert.Equal(ConnectionState.Online, client.State);
        var doc = await Harness.GetAsync(_server.Http, name, "c");
        Assert.Equal(20, (int?)doc?["n"]);
    }

    [Theory]
    [MemberData(nameof(Harness.Encodings), MemberType = typeof(Harness))]
    public async Task Queued_writes_survive_a_client_restart_and_are_applied_exactly_once(LockstepEncoding encoding)
    {
        var store = Harness.TempStore();
        var name = Harness.Unique("counters");
        try
        {
            await using (var proxy = new FaultProxy(_server.HttpUrl))
            {
                await using var first = Harness.Client(proxy.SyncUrl, encoding, store);
                await first.StartAsync();
                await first.Collection(name).IncrementAsync("c", "n");
                // Now the network goes; five more are queued, and the process ends.
                proxy.RefuseNew = true;
                proxy.CutAll();
                for (var i = 0; i < 5; i++)
                {
                    _ = first.Collection(name).IncrementAsync("c", "n");
                }
                Assert.Equal(5, first.PendingCount);
            }

            // The store keeps the queue in JSON whatever the wire spoke: the restarted client may speak the other encoding.
            await using var second = Harness.Client(_server.SyncUrl, encoding == LockstepEncoding.Json ? LockstepEncoding.MessagePack : LockstepEncoding.Json, store);
            Assert.Equal(5, second.PendingCount);
            // No subscription holds the document, so the view is the queued writes alone.
            Assert.Equal(5, (int?)second.Collection(name).Get("c")?["n"]);
            await second.StartAsync();
            await second.WaitForPendingAsync().WaitAsync(TimeSpan.FromSeconds(10));

            var doc = await Harness.GetAsync(_server.Http, name, "c");
            Assert.Equal(6, (int?)doc?["n"]);
            Assert.Equal(0, second.PendingCount);
        }
        finally
        {
            Harness.DeleteStore(store);
        }
    }

    [Theory]
    [MemberData(nameof(Harness.Encodings), MemberType = typeof(Harness))]
    public async Task A_restarted_client_shows_its_cached_view_before_it_connects_and_resumes_from_its_cursor(LockstepEncoding encoding)
    {
        var store = Harness.TempStore();
        var name = Harness.Unique("docs");
        try
        {
            await Harness.PutAsync(_server.Http, name, "d1", """{"x":1}""");
            await using (var first = Harness.Client(_server.SyncUrl, encoding, store))
            {
                await first.StartAsync();
                var query = first.Collection(name).Subscribe();
                await query.ReadyAsync();
                // The query is not disposed: the subscription stays in the store for the next run.
            }
            await Harness.PutAsync(_server.Http, name, "d2", """{"x":2}""");

            await using var proxy = new FaultProxy(_server.HttpUrl) { RefuseNew = true };
            await using var second = Harness.Client(proxy.SyncUrl, encoding, store);
            var docs = second.Collection(name);
            Assert.Equal(1, (int?)docs.Get("d1")?["x"]);
            await using var query2 = docs.Subscribe();
            Assert.True(query2.ReadyAsync().IsCompleted);
            var updates = new ConcurrentQueue<RemoteUpdate>();
            using var hook = docs.OnRemoteUpdate((u, _) => updates.Enqueue(u));

            second.Start();
            proxy.RefuseNew = false;
            // Hooks run on the event dispatcher, after the view changed: wait for the hook too.
            await Harness.EventuallyAsync(() => docs.Get("d2") is not null && !updates.IsEmpty);
            await Task.Delay(200);
            // Resumed, not reloaded: only what it missed arrived.
            Assert.Equal(["d2"], updates.Select(u => u.Id));
        }
        finally
        {
            Harness.DeleteStore(store);
        }
    }

    [Theory]
    [MemberData(nameof(Harness.Encodings), MemberType = typeof(Harness))]
    public async Task A_cut_connection_is_resumed_from_the_cursor_with_nothing_missed_or_repeated(LockstepEncoding encoding)
    {
        var name = Harness.Unique("docs");
        await using var proxy = new FaultProxy(_server.HttpUrl);
        await using var client = Harness.Client(proxy.SyncUrl, encoding);
        await client.StartAsync();
        var docs = client.Collection(name);
        var updates = new ConcurrentQueue<RemoteUpdate>();
        using var hook = docs.OnRemoteUpdate((u, _) => updates.Enqueue(u));
        await using var query = docs.Subscribe();
        await query.ReadyAsync();
        await Harness.PutAsync(_server.Http, name, "d", """{"n":0}""");
        await Harness.EventuallyAsync(() => docs.GetVersion("d") == 1);

        proxy.RefuseNew = true;
        proxy.CutAll();
        await Harness.EventuallyAsync(() => client.State != ConnectionState.Online);
        for (var i = 1; i <= 5; i++)
        {
            await Harness.PutAsync(_server.Http, name, "d", $$"""{"n":{{i}}}""");
        }
        proxy.RefuseNew = false;
        // Hooks run on the event dispatcher, after the view changed: wait for the hook too.
        await Harness.EventuallyAsync(() => docs.GetVersion("d") == 6 && updates.Count >= 6);

        Assert.Equal([1, 2, 3, 4, 5, 6], updates.Select(u => (int)u.Version));
        Assert.All(updates.Skip(1), u => Assert.Equal(RemoteUpdateKind.Changed, u.Kind));
        Assert.Equal(5, (int?)docs.Get("d")?["n"]);
    }

    [Fact]
    public async Task The_client_fails_over_to_the_next_url_when_the_first_is_down()
    {
        await using var down = new FaultProxy(_server.HttpUrl) { RefuseNew = true };
        await using var up = new FaultProxy(_server.HttpUrl);
        await using var client = Harness.Client([down.SyncUrl, up.SyncUrl]);
        await client.StartAsync().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(up.SyncUrl, client.ConnectedUrl);

        // And back again when the second goes away.
        down.RefuseNew = false;
        up.RefuseNew = true;
        up.CutAll();
        await Harness.EventuallyAsync(() => client.State == ConnectionState.Online && client.ConnectedUrl == down.SyncUrl);
    }

    [Fact]
    public async Task A_silent_dead_connection_is_found_by_the_heartbeat_and_replaced()
    {
        var name = Harness.Unique("counters");
        await using var proxy = new FaultProxy(_server.HttpUrl);
        await using var client = Harness.Client(proxy.SyncUrl);
        await client.StartAsync();
        var accepted = proxy.ConnectionsAccepted;

        proxy.Blackhole = true;
        var write = client.Collection(name).IncrementAsync("c", "n");
        await Harness.EventuallyAsync(() => client.State != ConnectionState.Online, TimeSpan.FromSeconds(5), "the heartbeat should give the connection up");
        proxy.Blackhole = false;
        await write.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.True(proxy.ConnectionsAccepted > accepted);
        Assert.Equal(1, (int?)(await Harness.GetAsync(_server.Http, name, "c"))?["n"]);
    }

    [Fact]
    public async Task Events_run_on_the_configured_synchronization_context_in_order()
    {
        var context = new RecordingContext();
        var name = Harness.Unique("docs");
        await using var client = Harness.Client(_server.SyncUrl, configure: o => o.EventContext = context);
        await client.StartAsync();
        var docs = client.Collection(name);
        var seen = new ConcurrentQueue<(long Version, bool OnContext)>();
        using var hook = docs.OnRemoteUpdate((u, _) => seen.Enqueue((u.Version, RecordingContext.Running == context)));
        await using var query = docs.Subscribe();
        await query.ReadyAsync();
        for (var i = 0; i < 20; i++)
        {
            await Harness.PutAsync(_server.Http, name, "d", $$"""{"n":{{i}}}""");
        }
        await Harness.EventuallyAsync(() => seen.Count == 20);
        Assert.All(seen, s => Assert.True(s.OnContext));
        Assert.Equal(Enumerable.Range(1, 20).Select(i => (long)i), seen.Select(s => s.Version));
    }

    [Fact]
    public async Task Pending_writes_stay_on_top_of_remote_changes_that_arrive_first_with_no_flicker()
    {
        var name = Harness.Unique("docs");
        await Harness.PutAsync(_server.Http, name, "d", """{"a":1,"b":1,"n":0}""");
        await using var proxy = new FaultProxy(_server.HttpUrl);
        await using var client = Harness.Client(proxy.SyncUrl);
        await client.StartAsync();
        var docs = client.Collection(name);
        await using var query = docs.Subscribe();
        await query.ReadyAsync();
        var views = new ConcurrentQueue<JsonObject>();
        query.Changed += (_, change) => views.Enqueue(change.Document!);

        proxy.RefuseNew = true;
        proxy.CutAll();
        await Harness.EventuallyAsync(() => client.State != ConnectionState.Online);
        var mine = Task.WhenAll(docs.PatchAsync("d", new { a = 2 }), docs.IncrementAsync("d", "n", 5));
        Assert.Equal("""{"a":2,"b":1,"n":5}""", docs.Get("d")!.ToJsonString());

        // Meanwhile someone else changes another field and the same counter.
        using (var content = new StringContent("""{"b":9}""", System.Text.Encoding.UTF8, "application/merge-patch+json"))
        {
            (await _server.Http.PatchAsync($"/v1/collections/{name}/docs/d", content)).EnsureSuccessStatusCode();
        }
        using (var content = new StringContent("""{"ops":[{"op":"inc","collection":"__C__","id":"d","path":"n","by":10}]}""".Replace("__C__", name, StringComparison.Ordinal), System.Text.Encoding.UTF8, "application/json"))
        {
            (await _server.Http.PostAsync("/v1/mutations", content)).EnsureSuccessStatusCode();
        }
        proxy.RefuseNew = false;
        await mine.WaitAsync(TimeSpan.FromSeconds(10));
        await Harness.EventuallyAsync(() => docs.GetVersion("d") == 5 && client.PendingCount == 0);

        Assert.Equal("""{"a":2,"b":9,"n":15}""", docs.Get("d")!.ToJsonString());
        Assert.Equal("""{"a":2,"b":9,"n":15}""", (await Harness.GetAsync(_server.Http, name, "d"))!.ToJsonString());
        // Every state the view went through kept this client's own edit: remote changes were rebased under it.
        Assert.All(views.Skip(1), v => Assert.Equal(2, (int?)v["a"]));
        Assert.All(views.Skip(1), v => Assert.True((int?)v["n"] is 5 or 15, v.ToJsonString()));
    }

    [Fact]
    public async Task AddLockstepClient_starts_the_client_with_the_host_and_disposes_it_when_the_host_stops()
    {
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder();
        builder.Services.AddLockstepClient(o =>
        {
            o.Urls.Add(_server.SyncUrl);
            o.UseLocalStore = false;
        });
        using var host = builder.Build();
        await host.StartAsync();
        var client = Microsoft.Extensions.DependencyInjection.ServiceProviderServiceExtensions.GetRequiredService<LockstepClient>(host.Services);
        await client.WaitOnlineAsync().WaitAsync(TimeSpan.FromSeconds(10));
        var name = Harness.Unique("docs");
        await client.Collection(name).PutAsync("d", new JsonObject { ["via"] = "di" });

        await host.StopAsync();
        Assert.Equal(ConnectionState.Closed, client.State);
        Assert.Equal("di", (string?)(await Harness.GetAsync(_server.Http, name, "d"))?["via"]);
    }

    [Fact]
    public async Task A_write_over_the_servers_frame_limit_is_refused_locally_and_the_queue_goes_on()
    {
        await using var server = await TestServer.StartAsync(o => o.MaxFrameBytes = 4096);
        await using var client = Harness.Client(server.SyncUrl);
        await client.StartAsync();
        var docs = client.Collection(Harness.Unique("docs"));
        var big = docs.PutAsync("big", new JsonObject { ["text"] = new string('x', 10_000) });
        var small = docs.PutAsync("small", new JsonObject { ["text"] = "ok" });

        var error = await Assert.ThrowsAsync<LockstepException>(() => big);
        Assert.Equal("frame_too_large", error.Code);
        await small.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Null(docs.Get("big"));
        Assert.Equal(0, client.PendingCount);
        Assert.Equal(ConnectionState.Online, client.State);
    }

    [Fact]
    public async Task A_known_client_id_on_a_fresh_store_does_not_reuse_mutation_numbers()
    {
        var clientId = Harness.Unique("fixed");
        var name = Harness.Unique("counters");
        foreach (var run in new[] { 1, 2 })
        {
            // Each run gets a new, empty store under the same client id (a reinstall, a wiped cache).
            var store = Harness.TempStore();
            try
            {
                await using var client = Harness.Client(_server.SyncUrl, store, o => o.ClientId = clientId);
                await client.StartAsync();
                for (var i = 0; i < 3; i++)
                {
                    var ack = await client.Collection(name).IncrementAsync("c", "n");
                    Assert.False(ack.Duplicate, $"run {run}: a new write was taken for a replay");
                }
            }
            finally
            {
                Harness.DeleteStore(store);
            }
        }
        Assert.Equal(6, (int?)(await Harness.GetAsync(_server.Http, name, "c"))?["n"]);
    }

    [Fact]
    public async Task A_rate_limited_write_or_subscription_is_retried_until_it_goes_through()
    {
        await using var server = await TestServer.StartAsync(o =>
        {
            o.RateLimitPerSecond = 10;
            o.RateLimitBurst = 4;
        });
        await using var client = Harness.Client(server.SyncUrl);
        await client.StartAsync();
        var docs = client.Collection(Harness.Unique("docs"));
        // Ten writes at once against a bucket of four: the refused ones come back and are retried with the same mid.
        var writes = Enumerable.Range(0, 10).Select(i => docs.PutAsync("d" + i, new JsonObject { ["i"] = i })).ToList();
        await Task.WhenAll(writes).WaitAsync(TimeSpan.FromSeconds(20));
        // The bucket is low now: a subscription (bulk) is refused at first, then asked again.
        await using var query = docs.Subscribe();
        await query.ReadyAsync().WaitAsync(TimeSpan.FromSeconds(20));
        Assert.Equal(10, query.Count);
    }

    [Fact]
    public async Task Two_clients_may_not_share_a_local_store()
    {
        var store = Harness.TempStore();
        try
        {
            await using var first = Harness.Client(_server.SyncUrl, store);
            var error = Assert.Throws<InvalidOperationException>(() => Harness.Client(_server.SyncUrl, store));
            Assert.Contains("in use", error.Message, StringComparison.Ordinal);
        }
        finally
        {
            Harness.DeleteStore(store);
        }
    }

    /// <summary>A synchronization context with its own thread, like a UI's.</summary>
    private sealed class RecordingContext : SynchronizationContext
    {
        [ThreadStatic]
        public static SynchronizationContext? Running;

        public override void Post(SendOrPostCallback d, object? state) => ThreadPool.QueueUserWorkItem(_ =>
        {
            Running = this;
            try
            {
                d(state);
            }
            finally
            {
                Running = null;
            }
        });
    }
}
