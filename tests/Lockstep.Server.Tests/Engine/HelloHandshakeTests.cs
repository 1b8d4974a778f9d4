using System.Net;
using System.Text.Json;
using Lockstep.Protocol;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace Lockstep.Server.Tests.Engine;

/// <summary>The hello's checks, without a socket or Kestrel: what is accepted, what is refused with which close, and what a refusal leaves held.</summary>
public sealed class HelloHandshakeTests : IAsyncLifetime
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "lockstep-hello-" + Guid.NewGuid().ToString("N"));
    private ServiceProvider _provider = null!;

    public Task InitializeAsync()
    {
        var services = new ServiceCollection().AddLogging().AddSingleton<IConfiguration>(new ConfigurationBuilder().Build());
        services.AddLockstep(o =>
        {
            o.Auth.OpenToAnyone();
            o.MaxConnectionsPerClient = 1;
            o.MaxSubscriptionsPerConnection = 2;
            o.MaxConnections = 1;
        }).AddSqliteStore(Path.Combine(_dir, "hello.db"));
        _provider = services.BuildServiceProvider();
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await _provider.DisposeAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        if (Directory.Exists(_dir))
        {
            Directory.Delete(_dir, recursive: true);
        }
    }

    private Task<(HelloAccepted? Accepted, HelloRefused? Refused)> CheckAsync(string json, ConnectionSlot? slot = null)
    {
        using var doc = JsonDocument.Parse(json);
        var services = _provider.GetRequiredService<SessionServices>();
        return new HelloHandshake(services.Options, services.Authenticator, services.Access, services.Admission).CheckAsync(doc.RootElement.Clone(), caller: null, slot);
    }

    [Fact]
    public async Task A_sound_hello_is_accepted_with_its_subscriptions_and_a_client_id_scoped_to_the_caller()
    {
        var (accepted, refused) = await CheckAsync("{\"t\":\"hello\",\"id\":1,\"clientId\":\"c1\",\"cursor\":0,\"subs\":[{\"sub\":\"a\",\"collection\":\"tasks\",\"filter\":{\"done\":false}}]}");
        Assert.Null(refused);
        Assert.NotEqual("c1", accepted!.ClientId); // kept with the caller's kind and id
        Assert.Equal(0, accepted.Cursor);
        Assert.Equal("tasks", Assert.Single(accepted.Subs).Collection);
        Assert.False(accepted.Subs[0].Access.None);
    }

    [Theory]
    [InlineData("{\"t\":\"hello\",\"id\":1,\"clientId\":\"\"}", "invalid_request")]
    [InlineData("{\"t\":\"hello\",\"id\":1,\"protocol\":2}", "unsupported_protocol")]
    [InlineData("{\"t\":\"hello\",\"id\":1,\"cursor\":0,\"subs\":[{\"sub\":\"a\",\"collection\":\"x\"},{\"sub\":\"a\",\"collection\":\"y\"}]}", "duplicate_subscription")]
    [InlineData("{\"t\":\"hello\",\"id\":1,\"cursor\":0,\"subs\":[{\"sub\":\"a\",\"collection\":\"x\"},{\"sub\":\"b\",\"collection\":\"x\"},{\"sub\":\"c\",\"collection\":\"x\"}]}", "too_many_subscriptions")]
    [InlineData("{\"t\":\"hello\",\"id\":1,\"token\":\"lsk_nobody\"}", "unauthorized")]
    public async Task A_refused_hello_says_why_and_closes_with_1008(string json, string code)
    {
        var (accepted, refused) = await CheckAsync(json);
        Assert.Null(accepted);
        Assert.Equal((code, CloseCodes.PolicyViolation), (refused!.Rejection.Error.Code, refused.CloseCode));
    }

    [Fact]
    public async Task A_refusal_after_the_client_was_counted_gives_its_connection_back()
    {
        var admission = _provider.GetRequiredService<ConnectionAdmission>();
        using var first = admission.TryAdmit(IPAddress.Loopback, out _)!;
        using var second = admission.TryAdmit(IPAddress.Loopback, out _)!;
        var (accepted, _) = await CheckAsync("{\"t\":\"hello\",\"id\":1,\"clientId\":\"a\"}", first);
        Assert.NotNull(accepted);
        // The one session is taken: another client's hello is overloaded (1013), and takes nothing of the client's count.
        var (_, refused) = await CheckAsync("{\"t\":\"hello\",\"id\":1,\"clientId\":\"b\"}", second);
        Assert.Equal(("overloaded", CloseCodes.TryAgainLater), (refused!.Rejection.Error.Code, refused.CloseCode));
        var (again, _) = await CheckAsync("{\"t\":\"hello\",\"id\":1,\"clientId\":\"b\"}");
        Assert.NotNull(again);
        // "a" holds its one connection: a second one is too_many_connections.
        var (_, tooMany) = await CheckAsync("{\"t\":\"hello\",\"id\":1,\"clientId\":\"a\"}");
        Assert.Equal("too_many_connections", tooMany!.Rejection.Error.Code);
    }
}
