using System.Text.Json;
using System.Text.Json.Nodes;
using Xunit;

namespace Lockstep.Protocol.Tests;

/// <summary>
/// The JSON bodies the server keeps or answers outside frames, frozen: a mutation's replay record (persisted, docs/dev/storage-format.md),
/// a dead letter and a webhook cursor (documents of system collections), a group's commit body, a document write's answer and a listing.
/// </summary>
public sealed class BodyGoldenTests
{
    /// <summary>How the server writes documents: without HTML-safety escaping (Lockstep.Core's LockstepJson).</summary>
    private static readonly JsonSerializerOptions Relaxed = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    [Fact]
    public void A_committed_write_record_is_the_persisted_json_and_reads_back()
    {
        var record = WriteRecord.Committed(17, [new WrittenVersion("tasks", "t1", 1), new WrittenVersion("tasks", "é+<", 3)], new JsonObject { ["ok"] = "ü" });

        var json = record.ToJson();

        Assert.Equal("{\"seq\":17,\"results\":[{\"collection\":\"tasks\",\"id\":\"t1\",\"v\":1},{\"collection\":\"tasks\",\"id\":\"é+<\",\"v\":3}],\"result\":{\"ok\":\"ü\"}}", json);
        var back = WriteRecord.Parse(json);
        Assert.Null(back.Code);
        Assert.Equal(17, back.Seq);
        Assert.Equal(record.Results, back.Results);
        Assert.Equal(json, back.ToJson());
        Assert.Equal("{\"seq\":1,\"results\":[]}", WriteRecord.Committed(1, [], null).ToJson());
    }

    [Fact]
    public void A_refused_write_record_keeps_code_message_reason_and_op_only()
    {
        var json = WriteRecord.Refused("mutation_rejected", "out of stock", "stock", 2).ToJson();

        Assert.Equal("{\"code\":\"mutation_rejected\",\"message\":\"out of stock\",\"reason\":\"stock\",\"op\":2}", json);
        var back = WriteRecord.Parse(json);
        Assert.Equal(("mutation_rejected", "out of stock", "stock", (int?)2), (back.Code, back.Message, back.Reason, back.Op));
        Assert.Equal("{\"code\":\"forbidden\",\"message\":\"no\"}", WriteRecord.Refused("forbidden", "no", null, null).ToJson());
    }

    [Fact]
    public void A_dead_letter_and_a_webhook_cursor_are_the_documents_they_were()
    {
        var letter = new DeadLetterBody("orders", "https://example.test/hook", 5, "timed out", "2026-12-02T10:00:00.0000000+00:00",
            [new DeadLetterEvent(41, "orders", "o1", 2), new DeadLetterEvent(42, "orders", "o2", 1)]);

        var json = letter.ToJson().ToJsonString(Relaxed);

        Assert.Equal("{\"webhook\":\"orders\",\"url\":\"https://example.test/hook\",\"attempts\":5,\"lastError\":\"timed out\",\"failedAt\":\"2026-12-02T10:00:00.0000000+00:00\","
            + "\"events\":[{\"seq\":41,\"collection\":\"orders\",\"id\":\"o1\",\"version\":2},{\"seq\":42,\"collection\":\"orders\",\"id\":\"o2\",\"version\":1}]}", json);
        var back = DeadLetterBody.Parse(json)!;
        Assert.Equal(letter.Events, back.Events);
        Assert.Equal((letter.Webhook, letter.Attempts, letter.LastError), (back.Webhook, back.Attempts, back.LastError));
        Assert.Null(DeadLetterBody.Parse("{\"webhook\":\"orders\"}"));
        Assert.Null(DeadLetterBody.Parse("{\"events\":[{\"collection\":\"orders\"}]}"));

        var cursor = new WebhookCursorBody(42, "https://example.test/hook", "2026-12-02T10:00:00.0000000+00:00").ToJson().ToJsonString(Relaxed);
        Assert.Equal("{\"seq\":42,\"url\":\"https://example.test/hook\",\"updatedAt\":\"2026-12-02T10:00:00.0000000+00:00\"}", cursor);
        Assert.Equal(42, WebhookCursorBody.ReadSeq(cursor));
        Assert.Null(WebhookCursorBody.ReadSeq("{}"));
    }

    [Theory]
    [InlineData("{\"commits\":[{\"partition\":0,\"epoch\":3,\"seq\":10},{\"partition\":5,\"epoch\":1,\"seq\":12,\"extra\":true}]}", true)]
    [InlineData("{\"commits\":[]}", true)]
    [InlineData("{}", false)]
    [InlineData("{\"commits\":{}}", false)]
    [InlineData("{\"commits\":[1]}", false)]
    [InlineData("{\"commits\":[{\"partition\":0,\"epoch\":3}]}", false)]
    [InlineData("{\"commits\":[{\"partition\":\"0\",\"epoch\":3,\"seq\":10}]}", false)]
    [InlineData("{\"commits\":[{\"partition\":4294967296,\"epoch\":3,\"seq\":10}]}", false)]
    [InlineData("{\"commits\":[{\"partition\":0,\"epoch\":3,\"seq\":1.5}]}", false)]
    public void A_group_commit_body_is_an_array_of_integer_partition_epoch_and_seq(string body, bool valid)
    {
        using var doc = JsonDocument.Parse(body);

        Assert.Equal(valid, GroupCommit.TryReadAll(doc.RootElement, out var commits));
        if (valid)
        {
            var written = new JsonObject { ["commits"] = GroupCommit.ToJson(commits) }.ToJsonString();
            using var again = JsonDocument.Parse(written);
            Assert.True(GroupCommit.TryReadAll(again.RootElement, out var back));
            Assert.Equal(commits, back);
        }
    }

    [Fact]
    public void A_document_write_answer_and_a_listing_have_their_fields_in_order()
    {
        Assert.Equal("{\"collection\":\"todos\",\"id\":\"t1\",\"v\":2,\"seq\":9,\"dup\":true}",
            Write(w => JsonBodies.WriteDocumentWrittenFields(w, "todos", "t1", 2, 9, duplicate: true)));
        Assert.Equal("{\"collection\":\"todos\",\"id\":\"t1\",\"v\":1,\"seq\":3}",
            Write(w => JsonBodies.WriteDocumentWrittenFields(w, "todos", "t1", 1, 3, duplicate: false)));
        Assert.Equal("{\"docs\":[{\"id\":\"a\",\"v\":1,\"doc\":{\"n\":1}}],\"next\":\"a\",\"seq\":4}",
            Write(w => JsonBodies.WriteListingFields(w, [new SnapshotDocument("a", 1, new RawJson("{\"n\":1}"))], "a", 4)));
        Assert.Equal("{\"docs\":[],\"next\":null,\"seq\":0}", Write(w => JsonBodies.WriteListingFields(w, [], null, 0)));
    }

    private static string Write(Action<Utf8JsonWriter> fill)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            fill(writer);
            writer.WriteEndObject();
        }
        return System.Text.Encoding.UTF8.GetString(buffer.ToArray());
    }
}
