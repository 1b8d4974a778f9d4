using Xunit;

namespace Lockstep.Server.Tests;

/// <summary>Rules as configuration spells them, and configuration mistakes caught at start.</summary>
public sealed class AccessRuleTests
{
    [Theory]
    [InlineData("public", AccessRuleKind.Public, null)]
    [InlineData("authenticated", AccessRuleKind.Authenticated, null)]
    [InlineData(" role:editor ", AccessRuleKind.Role, "editor")]
    [InlineData("owner:ownerId", AccessRuleKind.Owner, "ownerId")]
    [InlineData("owner:meta.owner", AccessRuleKind.Owner, "meta.owner")]
    public void Rules_parse_and_print_back(string text, AccessRuleKind kind, string? argument)
    {
        var rule = AccessRule.Parse(text);
        Assert.Equal(kind, rule.Kind);
        Assert.Equal(argument, rule.Argument);
        Assert.Equal(text.Trim(), rule.ToString());
    }

    [Theory]
    [InlineData("")]
    [InlineData("everyone")]
    [InlineData("role:")]
    [InlineData("owner:")]
    [InlineData("owner:a..b")]
    [InlineData("Public")]
    public void Malformed_rules_are_refused(string text) =>
        Assert.Throws<FormatException>(() => AccessRule.Parse(text));

    [Fact]
    public async Task A_malformed_rule_scope_or_key_hash_stops_the_server_at_start()
    {
        Action<LockstepOptions>[] mistakes =
        [
            o => o.Collections["todos"] = BadRule(),
            o => o.Auth.ApiKeys.Add(AuthFixture.Key("svc", ApiKeys.Generate(), "delete")),
            o => o.Auth.ApiKeys.Add(new ApiKeyOptions { Name = "svc", Hash = "md5:1234" }),
            o => o.Auth.Mutators.Add("owner:ownerId"),
            o => o.Auth.ApiKeys.Add(AuthFixture.Key("svc", ApiKeys.Generate(), "groups:a~b")),
            o => o.Auth.Groups.Add("owner:ownerId"),
        ];
        foreach (var mistake in mistakes)
        {
            await Assert.ThrowsAsync<FormatException>(() => TestServer.StartAsync(mistake, open: false));
        }
    }

    [Fact]
    public void An_API_key_hash_is_its_sha256_and_keys_are_unique()
    {
        var key = ApiKeys.Generate();
        Assert.StartsWith("lsk_", key, StringComparison.Ordinal);
        Assert.NotEqual(key, ApiKeys.Generate());
        Assert.Matches("^sha256:[0-9a-f]{64}$", ApiKeys.Hash(key));
        Assert.Equal(ApiKeys.Hash(key), ApiKeys.Hash(key));
    }

    private static CollectionOptions BadRule()
    {
        var options = new CollectionOptions();
        options.Read.Add("everyone");
        return options;
    }
}
