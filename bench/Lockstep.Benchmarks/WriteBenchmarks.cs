using System.Text.Json.Nodes;
using BenchmarkDotNet.Attributes;
using Lockstep.Core;

namespace Lockstep.Benchmarks;

/// <summary>The pure parts of the write path: applying an op and computing its delta. Compare allocations, not wall time.</summary>
[MemoryDiagnoser]
public class WriteBenchmarks
{
    private StoredDocument _current = null!;
    private PatchOp _patch = null!;
    private IncOp _inc = null!;
    private JsonObject _before = null!;
    private JsonObject _after = null!;

    [GlobalSetup]
    public void Setup()
    {
        var body = new JsonObject
        {
            ["title"] = "Quarterly report",
            ["status"] = "open",
            ["owner"] = new JsonObject { ["name"] = "Ana", ["team"] = "finance" },
            ["tags"] = new JsonArray("q3", "report"),
            ["n"] = 41,
        };
        _current = new StoredDocument("forms", "f1", 7, 100, false, body.ToJsonString(), new HlcTimestamp(1, 0));
        _patch = new PatchOp("forms", "f1", [new("status", JsonValue.Create("done"))], []);
        _inc = new IncOp("forms", "f1", "n", 1);
        _before = body;
        _after = (JsonObject)body.DeepClone();
        _after["status"] = "done";
    }

    [Benchmark(Baseline = true)]
    public AppliedWrite? ApplyPatch() => DocumentWriter.Apply(_current, _patch, ConflictPolicy.Lww).Write;

    [Benchmark]
    public AppliedWrite? ApplyIncrement() => DocumentWriter.Apply(_current, _inc, ConflictPolicy.Lww).Write;

    [Benchmark]
    public string DeltaOfOneField() => Delta.Compute(_before, _after).SetJson();
}
