using System.Buffers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Xunit;

namespace Lockstep.Protocol.Tests;

/// <summary>
/// The REST answers as the client reads them — a consumer group's claim and changes, a listing, a document write's
/// answer, a problem: what the server writes (through the same Protocol writers) reads back as it was, and a
/// malformed answer is refused rather than half read.
/// </summary>
public sealed class BodyReaderTests
{
    [Fact]
    public void A_group_changes_answer_reads_back_every_field_and_writes_the_same_json_again()
    {
        var delta = new FeedChange(7, "orders", "o1", 3) { Hlc = "h1", ClientId = "c-1", Mid = 42, Set = new RawJson("{\"n\":2}"), Unset = new RawJson("[\"x\"]"), Doc = new RawJson("{\"n\":2}") };
        var deleted = new FeedChange(8, "orders", "o2", 5) { Hlc = "h2", Deleted = true };
        var removed = new FeedChange(9, "orders", "o3", 6) { Removed = true };
        var text = Write(w =>
        {
            w.WriteStartObject();
            w.WriteStartArray("events");
            foreach (var (partition, change) in new[] { (1, delta), (2, deleted), (3, removed) })
            {
                w.WriteStartObject();
                w.WriteNumber("partition", partition);
                JsonBodies.WriteFeedChangeFields(w, change);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteStartObject("positions");
            w.WriteNumber("1", 7);
            w.WriteNumber("2", 8);
            w.WriteEndObject();
            w.WriteStartArray("lost");
            w.WriteNumberValue(4);
            w.WriteEndArray();
            w.WriteNumber("head", 9);
            w.WriteEndObject();
        });

        using var doc = JsonDocument.Parse(text);
        Assert.True(GroupChanges.TryRead(doc.RootElement, out var changes));
        Assert.Equal(text, Write(w =>
        {
            w.WriteStartObject();
            changes.WriteFields(w);
            w.WriteEndObject();
        }));

        Assert.Equal(new[] { new GroupEvent(1, delta), new GroupEvent(2, deleted), new GroupEvent(3, removed) }, changes.Events);
        Assert.Equal(new[] { (1, 7L), (2, 8L) }, changes.Positions.OrderBy(p => p.Key).Select(p => (p.Key, p.Value)));
        Assert.Equal(new[] { 4 }, changes.Lost);
        Assert.Equal(9, changes.Head);
    }

    [Theory]
    [InlineData("{\"events\":[],\"positions\":{},\"lost\":[]}", true)]
    [InlineData("{\"events\":[],\"positions\":{}}", false)]
    [InlineData("{\"events\":[{\"seq\":1,\"collection\":\"c\",\"id\":\"a\",\"version\":1}],\"positions\":{},\"lost\":[]}", false)]
    [InlineData("{\"events\":[{\"partition\":0,\"seq\":\"1\",\"collection\":\"c\",\"id\":\"a\",\"version\":1}],\"positions\":{},\"lost\":[]}", false)]
    [InlineData("{\"events\":[],\"positions\":{\"x\":1},\"lost\":[]}", false)]
    [InlineData("{\"events\":[],\"positions\":{},\"lost\":[\"1\"]}", false)]
    public void A_group_changes_answer_is_read_only_when_well_formed(string body, bool valid)
    {
        using var doc = JsonDocument.Parse(body);
        Assert.Equal(valid, GroupChanges.TryRead(doc.RootElement, out _));
    }

    [Theory]
    [InlineData("{\"assigned\":[{\"partition\":0,\"epoch\":3,\"checkpoint\":10}]}", true)]
    [InlineData("{\"assigned\":[]}", true)]
    [InlineData("{\"assigned\":[{\"partition\":0,\"epoch\":3}]}", false)]
    [InlineData("{\"assigned\":[{\"partition\":\"0\",\"epoch\":3,\"checkpoint\":10}]}", false)]
    [InlineData("{}", false)]
    public void A_claim_answer_is_an_array_of_integer_partition_epoch_and_checkpoint(string body, bool valid)
    {
        using var doc = JsonDocument.Parse(body);
        Assert.Equal(valid, GroupAssignment.TryReadAll(doc.RootElement, out var assigned));
        if (valid)
        {
            var written = new JsonObject { ["assigned"] = GroupAssignment.ToJson(assigned) }.ToJsonString();
            Assert.Equal(body, written);
        }
    }

    [Fact]
    public void A_problem_reads_its_code_detail_transience_and_error_details()
    {
        var text = Write(w =>
        {
            w.WriteStartObject();
            w.WriteString("type", "urn:lockstep:error:version_conflict");
            w.WriteString("detail", "stale");
            w.WriteString("code", "version_conflict");
            w.WriteBoolean("transient", false);
            JsonBodies.WriteErrorDetails(w, new ErrorFrame(null, "version_conflict", "stale") { Op = 1, Reason = "r", Dup = true });
            w.WriteEndObject();
        });

        Assert.True(ProblemBody.TryRead(text, out var problem));
        Assert.Equal(("version_conflict", "stale", false, "r", (int?)1, true), (problem.Code, problem.Detail, problem.Transient, problem.Reason, problem.Op, problem.Dup));
        Assert.True(ProblemBody.TryRead("{\"code\":\"overloaded\",\"transient\":true,\"current\":{\"v\":2}}", out var transient));
        Assert.Equal(("overloaded", "", true, "{\"v\":2}"), (transient.Code, transient.Detail, transient.Transient, transient.Current?.Json));
        Assert.False(ProblemBody.TryRead("<html>bad gateway</html>", out _));
        Assert.False(ProblemBody.TryRead("{\"detail\":\"no code\"}", out _));
        Assert.False(ProblemBody.TryRead("", out _));
    }

    [Fact]
    public void A_listing_and_a_document_write_answer_read_back_as_written()
    {
        var listed = new[] { new SnapshotDocument("a", 1, new RawJson("{\"n\":1}")), new SnapshotDocument("b", 4, new RawJson("{}")) };
        foreach (var next in new[] { "b", null })
        {
            using var page = JsonDocument.Parse(Write(w =>
            {
                w.WriteStartObject();
                JsonBodies.WriteListingFields(w, listed, next, 12);
                w.WriteEndObject();
            }));
            Assert.True(JsonBodies.TryReadListing(page.RootElement, out var documents, out var after, out var seq));
            Assert.Equal(listed, documents);
            Assert.Equal((next, 12L), (after, seq));
        }
        using var written = JsonDocument.Parse(Write(w =>
        {
            w.WriteStartObject();
            JsonBodies.WriteDocumentWrittenFields(w, "sagas", "s1", 3, 40, duplicate: false);
            w.WriteEndObject();
        }));
        Assert.True(JsonBodies.TryReadDocumentWritten(written.RootElement, out var version, out var at));
        Assert.Equal((3L, 40L), (version, at));
    }

    [Theory]
    [InlineData("{\"docs\":[{\"id\":\"a\",\"v\":\"1\",\"doc\":{}}],\"next\":null,\"seq\":1}")]
    [InlineData("{\"docs\":[{\"id\":\"a\",\"v\":1,\"doc\":[]}],\"next\":null,\"seq\":1}")]
    [InlineData("{\"docs\":[],\"next\":3,\"seq\":1}")]
    [InlineData("{\"docs\":[],\"next\":null}")]
    [InlineData("{\"next\":null,\"seq\":1}")]
    public void A_malformed_listing_is_refused(string body)
    {
        using var doc = JsonDocument.Parse(body);
        Assert.False(JsonBodies.TryReadListing(doc.RootElement, out _, out _, out _));
    }

    private static string Write(Action<Utf8JsonWriter> fill)
    {
        var output = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(output))
        {
            fill(writer);
        }
        return Encoding.UTF8.GetString(output.WrittenSpan);
    }
}
