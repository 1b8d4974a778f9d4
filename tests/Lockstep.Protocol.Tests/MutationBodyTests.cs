using System.Buffers;
using System.Text;
using System.Text.Json;
using Xunit;

namespace Lockstep.Protocol.Tests;

/// <summary>
/// The REST mutation body (<c>POST /v1/mutations</c>) a caller writes and the answer it reads, through <see cref="MutationBodies"/>:
/// the ops spelled as a <c>mut</c>'s, escaped as they are stored (Lockstep.Outbox keeps these strings), read back by the server's
/// own <see cref="MutationReader"/>; the request with <c>clientId</c> and <c>mid</c> in front; an ack's fields and a problem read,
/// and anything else refused without an exception.
/// </summary>
public sealed class MutationBodyTests
{
    private static readonly MutationOp[] EveryKind =
    [
        new(OpKind.Put, "orders", "o-1") { Doc = new RawJson("""{"total":12.5,"note":"caf\u00E9"}"""), IfVersion = 0 },
        new(OpKind.Patch, "stock", "sku-é") { Set = new RawJson("""{"count":3,"meta.tag":null,"price":1.50}"""), Unset = ["old", "x.<y>"] },
        new(OpKind.Patch, "stock", "sku-2") { Set = new RawJson("{}"), Unset = ["gone"], IfVersion = 4 },
        new(OpKind.Inc, "stock", "sku-1") { Path = "count", By = new RawJson("0.10") },
        new(OpKind.Delete, "orders", "o-2") { IfVersion = 7 },
    ];

    [Fact]
    public void Ops_of_every_kind_are_written_in_the_protocols_order_with_the_default_escaping()
    {
        Assert.Equal("""{"op":"put","collection":"orders","id":"o-1","doc":{"total":12.5,"note":"caf\u00E9"},"ifVersion":0}""", MutationBodies.WriteOp(EveryKind[0]));
        Assert.Equal("""{"op":"patch","collection":"stock","id":"sku-\u00E9","set":{"count":3,"meta.tag":null,"price":1.50},"unset":["old","x.\u003Cy\u003E"]}""", MutationBodies.WriteOp(EveryKind[1]));
        Assert.Equal("""{"op":"patch","collection":"stock","id":"sku-2","set":{},"unset":["gone"],"ifVersion":4}""", MutationBodies.WriteOp(EveryKind[2]));
        Assert.Equal("""{"op":"inc","collection":"stock","id":"sku-1","path":"count","by":0.10}""", MutationBodies.WriteOp(EveryKind[3]));
        Assert.Equal("""{"op":"delete","collection":"orders","id":"o-2","ifVersion":7}""", MutationBodies.WriteOp(EveryKind[4]));
        Assert.Equal("{\"ops\":[" + string.Join(',', EveryKind.Select(MutationBodies.WriteOp)) + "]}", MutationBodies.WriteOps(EveryKind));
    }

    [Fact]
    public void The_ops_are_a_mut_frames_ops()
    {
        // ASCII only: the frame's relaxed escaping and the body's default one spell it alike.
        MutationOp[] ops = [EveryKind[0] with { Doc = new RawJson("""{"total":12.5}""") }, EveryKind[2], EveryKind[3], EveryKind[4]];
        var output = new ArrayBufferWriter<byte>();
        FrameCodecs.Json.Write(new MutateFrame(RawJson.Number(1), 9, ops), output);

        var frame = Encoding.UTF8.GetString(output.WrittenSpan);

        Assert.Equal("{\"t\":\"mut\",\"id\":1,\"mid\":9," + MutationBodies.WriteOps(ops)[1..], frame);
    }

    [Fact]
    public void The_server_reads_the_written_ops_back_as_they_were()
    {
        using var body = JsonDocument.Parse(MutationBodies.WriteOps(EveryKind));

        Assert.True(MutationReader.TryReadOps(body.RootElement.GetProperty("ops"), 1000, out var read, out var error), error?.Message);

        Assert.Equal(EveryKind.Length, read.Count);
        for (var i = 0; i < EveryKind.Length; i++)
        {
            var (sent, got) = (EveryKind[i], read[i]);
            Assert.Equal((sent.Kind, sent.Collection, sent.Id, sent.IfVersion, sent.Path), (got.Kind, got.Collection, got.Id, got.IfVersion, got.Path));
            Assert.Equal(sent.Unset, got.Unset);
            foreach (var (a, b) in new[] { (sent.Doc, got.Doc), (sent.Set, got.Set), (sent.By, got.By) })
            {
                Assert.Equal(a is null, b is null);
                if (a is { } x && b is { } y)
                {
                    using var left = JsonDocument.Parse(x.Json);
                    using var right = JsonDocument.Parse(y.Json);
                    Assert.True(JsonElement.DeepEquals(left.RootElement, right.RootElement), $"{x.Json} vs {y.Json}");
                }
            }
        }
    }

    [Fact]
    public void A_call_is_its_name_and_its_args_when_there_are_some()
    {
        Assert.Equal("""{"name":"reserve","args":{"sku":"caf\u00E9","n":[1,null]}}""", MutationBodies.WriteCall("reserve", new RawJson("""{"sku":"caf\u00E9","n":[1,null]}""")));
        Assert.Equal("""{"name":"r\u00E9serve"}""", MutationBodies.WriteCall("réserve", null));
        Assert.Throws<ArgumentException>(() => MutationBodies.WriteCall("", null));
    }

    [Fact]
    public void A_mutation_body_has_ops_or_a_name_and_leaves_client_id_and_mid_to_the_sender()
    {
        Assert.True(IsMutation("""{"ops":[]}"""));
        Assert.True(IsMutation("""{"name":"go","args":1}"""));
        Assert.False(IsMutation("""{"ops":[],"name":"go"}"""));
        Assert.False(IsMutation("""{"ops":{}}"""));
        Assert.False(IsMutation("""{"name":3}"""));
        Assert.False(IsMutation("""{"args":{}}"""));
        Assert.False(IsMutation("""{"ops":[],"mid":3}"""));
        Assert.False(IsMutation("""{"name":"go","clientId":"x"}"""));
        Assert.False(IsMutation("[1]"));
    }

    [Fact]
    public void The_request_puts_client_id_and_mid_in_front_and_drops_the_bodys_own()
    {
        Assert.True(MutationBodies.TryWriteRequest("svc:é", 17, """{"mid":1,"ops":[{"op":"delete","collection":"c","id":"x"}],"clientId":"other"}""", out var body, out var error), error);
        Assert.Equal("""{"clientId":"svc:\u00E9","mid":17,"ops":[{"op":"delete","collection":"c","id":"x"}]}""", Encoding.UTF8.GetString(body));

        Assert.True(MutationBodies.TryWriteRequest("svc:a", 18, """{ "name" : "go", "args" : 1.50e0 }""", out body, out _));
        Assert.Equal("""{"clientId":"svc:a","mid":18,"name":"go","args":1.50e0}""", Encoding.UTF8.GetString(body));
    }

    [Theory]
    [InlineData("[1]")]
    [InlineData("\"ops\"")]
    [InlineData("{")]
    [InlineData("")]
    public void A_request_of_what_is_not_a_json_object_is_refused_with_why(string stored)
    {
        Assert.False(MutationBodies.TryWriteRequest("svc:a", 1, stored, out var body, out var error));
        Assert.Null(body);
        Assert.False(string.IsNullOrEmpty(error));
    }

    [Fact]
    public void The_answer_is_an_acks_fields_as_the_server_writes_them()
    {
        var sent = new AckFrame(null, 42, [new WrittenVersion("orders", "o-1", 3), new WrittenVersion("stock", "sku-1", 9)]) { Result = new RawJson("""{"ok":true}"""), Dup = true };
        var output = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(output))
        {
            writer.WriteStartObject();
            JsonBodies.WriteAckFields(writer, sent);
            writer.WriteEndObject();
        }

        Assert.True(MutationBodies.TryReadAnswer(output.WrittenMemory.ToArray(), out var ack));

        Assert.Equal((42L, true, """{"ok":true}"""), (ack.Seq, ack.Dup, ack.Result?.Json));
        Assert.Equal(sent.Results, ack.Results);
        Assert.True(MutationBodies.TryReadAnswer(Encoding.UTF8.GetBytes("""{"seq":7,"results":[]}"""), out ack));
        Assert.Equal((7L, false, (RawJson?)null), (ack.Seq, ack.Dup, ack.Result));
    }

    [Theory]
    [InlineData("")]
    [InlineData("<html>a login page</html>")]
    [InlineData("[1]")]
    [InlineData("""{"results":[]}""")]
    [InlineData("""{"seq":"12","results":[]}""")]
    [InlineData("""{"seq":1.5,"results":[]}""")]
    [InlineData("""{"seq":12}""")]
    [InlineData("""{"seq":12,"results":{}}""")]
    [InlineData("""{"seq":12,"results":[1]}""")]
    [InlineData("""{"seq":12,"results":[{"collection":"c","id":"x"}]}""")]
    [InlineData("""{"seq":12,"results":[],"dup":"yes"}""")]
    [InlineData("""{"seq":12,"seq":13,"results":[]}""")]
    [InlineData("""{"seq":12,"results":[{"collection":"c","id":"\ud800","v":1}]}""")]
    public void What_is_not_an_acks_fields_is_no_answer_and_never_an_exception(string body)
    {
        Assert.False(MutationBodies.TryReadAnswer(Encoding.UTF8.GetBytes(body), out var ack));
        Assert.Null(ack);
    }

    [Fact]
    public void A_problem_is_its_code_detail_transience_and_op()
    {
        var body = """{"type":"urn:lockstep:error:invalid_operation","title":"Invalid operation","status":422,"detail":"'by' \u003Cnot\u003E a number","instance":"/v1/mutations","code":"invalid_operation","transient":false,"op":2}""";

        Assert.True(ProblemBody.TryRead(new ReadOnlyMemory<byte>(Encoding.UTF8.GetBytes(body)), out var problem));

        Assert.Equal(("invalid_operation", "'by' <not> a number", (bool?)false, (int?)2), (problem.Code, problem.Detail, problem.Transient, problem.Op));
        Assert.True(ProblemBody.TryRead(new ReadOnlyMemory<byte>(Encoding.UTF8.GetBytes("""{"code":"overloaded","transient":true}""")), out problem));
        Assert.Equal(("overloaded", "", (bool?)true, (int?)null), (problem.Code, problem.Detail, problem.Transient, problem.Op));
        Assert.True(ProblemBody.TryRead(new ReadOnlyMemory<byte>(Encoding.UTF8.GetBytes("""{"code":"rate_limited"}""")), out problem));
        Assert.Null(problem.Transient);
    }

    [Fact]
    public void A_problems_fields_of_the_wrong_type_read_as_not_said()
    {
        Assert.True(ProblemBody.TryRead(new ReadOnlyMemory<byte>(Encoding.UTF8.GetBytes("""{"code":"forbidden","detail":7,"transient":"yes","op":"2"}""")), out var problem));
        Assert.Equal(("forbidden", "", (bool?)false, (int?)null), (problem.Code, problem.Detail, problem.Transient, problem.Op));
    }

    [Theory]
    [InlineData("")]
    [InlineData("<html>bad gateway</html>")]
    [InlineData("[1]")]
    [InlineData("""{"detail":"no code"}""")]
    [InlineData("""{"code":7,"detail":"no"}""")]
    [InlineData("""{"code":"","detail":"no"}""")]
    [InlineData("""{"code":null}""")]
    [InlineData("""{"code":"\ud800"}""")]
    [InlineData("""{"code":"a","code":"b"}""")]
    public void What_has_no_code_is_not_a_lockstep_problem(string body)
    {
        Assert.False(ProblemBody.TryRead(new ReadOnlyMemory<byte>(Encoding.UTF8.GetBytes(body)), out var problem));
        Assert.Null(problem);
    }

    private static bool IsMutation(string json)
    {
        using var doc = JsonDocument.Parse(json);
        return MutationBodies.IsMutation(doc.RootElement);
    }

    [Fact]
    public void A_request_is_read_as_a_batch_or_a_call_with_its_client_id_and_mid()
    {
        using var batch = JsonDocument.Parse("{\"clientId\":\"c1\",\"mid\":7,\"ops\":[]}");
        Assert.True(MutationBodies.TryReadRequest(batch.RootElement, out var read, out _));
        Assert.Equal(("c1", 7L, null, JsonValueKind.Array), (read.ClientId, read.Mid, read.Name, read.Ops.ValueKind));

        using var call = JsonDocument.Parse("{\"name\":\"reserve\",\"args\":{\"n\":1}}");
        Assert.True(MutationBodies.TryReadRequest(call.RootElement, out read, out _));
        Assert.Equal(("reserve", JsonValueKind.Object, JsonValueKind.Undefined, null, null), (read.Name, read.Args.ValueKind, read.Ops.ValueKind, read.ClientId, read.Mid));
    }

    [Theory]
    [InlineData("{\"mid\":0,\"ops\":[]}", "'mid' must be a positive integer.")]
    [InlineData("{\"mid\":\"1\",\"ops\":[]}", "'mid' must be a positive integer.")]
    [InlineData("{\"clientId\":\"\",\"ops\":[]}", "'clientId' must be a string of 1 to 128 characters, none of them control characters.")]
    [InlineData("{\"clientId\":\"c\"}", "A mutation has 'ops' (a batch) or 'name' and 'args' (a mutator call).")]
    public void A_request_that_is_not_one_is_invalid_request_with_why(string json, string message)
    {
        using var doc = JsonDocument.Parse(json);
        Assert.False(MutationBodies.TryReadRequest(doc.RootElement, out _, out var error));
        Assert.Equal((ErrorCodes.InvalidRequest.Code, message), (error.Code.Code, error.Message));
    }
}
