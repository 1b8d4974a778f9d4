using System.Text.Json;
using Xunit;

namespace Lockstep.Core.Tests;

public sealed class FilterTests
{
    private static Filter Parse(string json)
    {
        Assert.True(Filter.TryParse(json, out var filter, out var error), error);
        return filter;
    }

    private static bool Matches(string filter, string document)
    {
        using var doc = JsonDocument.Parse(document);
        return Parse(filter).Matches(doc.RootElement);
    }

    [Theory]
    [InlineData("""{"s":"open"}""", """{"s":"open"}""", true)]
    [InlineData("""{"s":"open"}""", """{"s":"done"}""", false)]
    [InlineData("""{"n":1}""", """{"n":1.0}""", true)]
    [InlineData("""{"n":1}""", """{"n":"1"}""", false)]
    [InlineData("""{"n":null}""", """{}""", true)]
    [InlineData("""{"n":null}""", """{"n":null}""", true)]
    [InlineData("""{"n":null}""", """{"n":0}""", false)]
    [InlineData("""{"o":{"$eq":{"a":[1,2]}}}""", """{"o":{"a":[1,2]}}""", true)]
    [InlineData("""{"o":{"$eq":{"a":[1,2]}}}""", """{"o":{"a":[2,1]}}""", false)]
    [InlineData("""{"p":{"$in":[1,2]}}""", """{"p":2}""", true)]
    [InlineData("""{"p":{"$in":[1,2]}}""", """{"p":3}""", false)]
    [InlineData("""{"p":{"$in":["a",null]}}""", """{}""", true)]
    [InlineData("""{"age":{"$gte":18,"$lt":65}}""", """{"age":18}""", true)]
    [InlineData("""{"age":{"$gte":18,"$lt":65}}""", """{"age":65}""", false)]
    [InlineData("""{"age":{"$gt":18}}""", """{"age":"19"}""", false)]
    [InlineData("""{"name":{"$gt":"b","$lte":"d"}}""", """{"name":"c"}""", true)]
    [InlineData("""{"name":{"$gt":"b","$lte":"d"}}""", """{"name":"b"}""", false)]
    [InlineData("""{"name":{"$lt":"Z"}}""", """{"name":"a"}""", false)]
    [InlineData("""{"s":"open","p":{"$in":[1]}}""", """{"s":"open","p":2}""", false)]
    [InlineData("""{"s":"open","p":{"$in":[1]}}""", """{"s":"open","p":1}""", true)]
    [InlineData("""{"age":{"$lt":5}}""", """{}""", false)]
    [InlineData("""{}""", """{"any":1}""", true)]
    public void Filters_compare_values_as_documented(string filter, string document, bool expected)
    {
        Assert.Equal(expected, Matches(filter, document));
    }

    [Fact]
    public void A_tombstone_never_matches()
    {
        Assert.False(Parse("""{}""").Matches(null));
        Assert.False(Parse("""{"a":null}""").Matches(null));
    }

    [Theory]
    [InlineData("[1]")]
    [InlineData("""{"a":{"$regex":"x"}}""")]
    [InlineData("""{"a":{"$in":5}}""")]
    [InlineData("""{"a":{}}""")]
    [InlineData("""{"a.b":1}""")]
    [InlineData("""{"a":{"$gt":[1]}}""")]
    [InlineData("not json")]
    public void Malformed_filters_are_rejected_with_a_message(string json)
    {
        Assert.False(Filter.TryParse(json, out _, out var error));
        Assert.False(string.IsNullOrEmpty(error));
    }

    [Fact]
    public void An_absent_filter_matches_everything()
    {
        Assert.True(Filter.TryParse((string?)null, out var filter, out _));
        Assert.True(filter.MatchesAll);
    }
}
