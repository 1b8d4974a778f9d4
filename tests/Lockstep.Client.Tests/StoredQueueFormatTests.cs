using System.Text.Json.Nodes;
using Lockstep.Core;
using Lockstep.Protocol;
using Xunit;

namespace Lockstep.Client.Tests;

/// <summary>The local store keeps each queued write as its JSON frame, whatever the wire speaks: pinned here, old entries included.</summary>
public sealed class StoredQueueFormatTests
{
    [Fact]
    public void A_queued_write_is_stored_as_its_JSON_frame()
    {
        var patch = WriteOp.Patch("forms", "f1", new Dictionary<string, JsonNode?> { ["title"] = "Q3" }, ["old"], ifVersion: 2);
        var inc = WriteOp.Increment("forms", "f1", "n", 1.5m);
        var frame = new MutateFrame(RequestIds.ForWrite(5), 5, [patch.Wire, inc.Wire]);
        Assert.Equal(
            """{"t":"mut","id":"m5","mid":5,"ops":[{"op":"patch","collection":"forms","id":"f1","set":{"title":"Q3"},"unset":["old"],"ifVersion":2},{"op":"inc","collection":"forms","id":"f1","path":"n","by":1.5}]}""",
            PendingWrite.ToStoredText(frame));
    }

    [Fact]
    public void A_queue_entry_written_before_the_codecs_is_read_back_with_the_id_its_answer_will_carry()
    {
        // As the client of before wrote them: op fields first, no id (it was added when sent), mid last.
        var mut = PendingWrite.FromStoredText(5, """{"t":"mut","ops":[{"op":"inc","path":"n","by":1,"collection":"c","id":"d"},{"op":"put","doc":{"a":[1]},"collection":"c","id":"e","ifVersion":0}],"mid":5}""");
        var frame = Assert.IsType<MutateFrame>(mut!.Frame);
        Assert.Equal(("\"m5\"", 5L), (frame.Id!.Value.Json, frame.Mid));
        Assert.Equal(5L, RequestIds.MidOf(frame.Id));
        Assert.Collection(mut.Ops,
            op => Assert.Equal(("n", 1m), (Assert.IsType<IncOp>(op).Path, ((IncOp)op).By)),
            op => Assert.Equal(("""{"a":[1]}""", 0L), (Assert.IsType<PutOp>(op).Document.ToJsonString(), op.IfVersion)));

        var call = PendingWrite.FromStoredText(6, """{"t":"call","name":"reserve","args":{"collection":"x"},"mid":6}""");
        var callFrame = Assert.IsType<CallFrame>(call!.Frame);
        Assert.Equal(("reserve", """{"collection":"x"}""", "\"m6\""), (callFrame.Name, callFrame.Args!.Value.Json, callFrame.Id!.Value.Json));
        Assert.Empty(call.Ops);

        Assert.Null(PendingWrite.FromStoredText(7, "{not json"));
        Assert.Null(PendingWrite.FromStoredText(8, """{"t":"ping"}"""));
    }
}
