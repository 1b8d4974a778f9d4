// The pure parts: applying ops locally as the server would, filters, errors, backoff and the circuit breaker.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { WebSocket as NodeWebSocket } from "ws";
import { ErrorCodes, LockstepError, MutationRejectedError, VersionConflictError, WriteOp, type WebSocketConstructor } from "../../src/index.js";
import { compileFilter } from "../../src/filter.js";
import { applyOp } from "../../src/write-op.js";
import { Names } from "../../src/json.js";
import { backoffDelay, CircuitBreaker } from "../../src/retry.js";

// Both WebSocket classes fit the client's option without casts (checked by the compiler).
const fromWs: WebSocketConstructor = NodeWebSocket;
const fromBrowser: WebSocketConstructor | undefined = (globalThis as { WebSocket?: typeof WebSocket }).WebSocket;
void fromWs;
void fromBrowser;

describe("local apply", () => {
  test("patch sets dotted paths, creating objects, and unsets others", () => {
    const after = applyOp({ a: 1, draft: true, owner: { name: "x" } }, WriteOp.patch("c", "d", { "owner.name": "ana", "meta.by": "bo" }, ["draft"]));
    assert.deepEqual(after, { a: 1, owner: { name: "ana" }, meta: { by: "bo" } });
  });

  test("patch on a missing document creates it; put replaces; delete removes", () => {
    assert.deepEqual(applyOp(null, WriteOp.patch("c", "d", { x: 1 })), { x: 1 });
    assert.deepEqual(applyOp({ x: 1, y: 2 }, WriteOp.put("c", "d", { z: 3 })), { z: 3 });
    assert.equal(applyOp({ x: 1 }, WriteOp.delete("c", "d")), null);
  });

  test("inc adds to a number, counts a missing field as 0, and leaves a non-number alone (the server refuses it)", () => {
    assert.deepEqual(applyOp({ n: 2 }, WriteOp.increment("c", "d", "n", 3)), { n: 5 });
    assert.deepEqual(applyOp({}, WriteOp.increment("c", "d", "stats.n", -1)), { stats: { n: -1 } });
    assert.deepEqual(applyOp({ n: "x" }, WriteOp.increment("c", "d", "n", 1)), { n: "x" });
  });

  test("applying never changes its input", () => {
    const doc = { a: { b: 1 } };
    applyOp(doc, WriteOp.patch("c", "d", { "a.b": 2 }));
    assert.deepEqual(doc, { a: { b: 1 } });
  });

  test("builders refuse names the server would refuse", () => {
    assert.throws(() => WriteOp.put(".hidden", "d", {}), TypeError);
    assert.throws(() => WriteOp.put("c", "a/b", {}), TypeError);
    assert.throws(() => WriteOp.patch("c", "d", { "a..b": 1 }), TypeError);
    assert.throws(() => WriteOp.patch("c", "d", {}), TypeError);
    assert.throws(() => WriteOp.increment("c", "d", "n", Number.NaN), TypeError);
    assert.deepEqual(WriteOp.delete("c", "d", 0), { op: "delete", collection: "c", id: "d", ifVersion: 0 });
  });
});

describe("names", () => {
  test("ids of emoji are text; a lone surrogate is not, as the server judges (protocol.md §1)", () => {
    assert.equal(Names.isValidId("🎉🎉-👩‍💻"), true);
    assert.equal(Names.isValidId("a\ud800"), false);
    assert.equal(Names.isValidId("\udc00a"), false);
    assert.equal(Names.isValidId("\ude00\ud83d"), false);
    assert.equal(Names.isValidFieldName("ok😀"), true);
    assert.equal(Names.isValidFieldName("x\udfff"), false);
  });
});

describe("filters", () => {
  test("equality compares numbers by value and deeply; null matches a missing field", () => {
    const f = compileFilter({ n: 1, tags: ["a"], gone: null });
    assert.equal(f({ n: 1.0, tags: ["a"] }), true);
    assert.equal(f({ n: 1, tags: ["a"], gone: null }), true);
    assert.equal(f({ n: "1", tags: ["a"] }), false, "different types never match");
    assert.equal(f({ n: 1, tags: ["a"], gone: 0 }), false);
  });

  test("operators: $in, ranges on numbers and strings, $eq with an object", () => {
    assert.equal(compileFilter({ p: { $in: [1, 2] } })({ p: 2 }), true);
    assert.equal(compileFilter({ p: { $in: [1, 2] } })({ p: 3 }), false);
    assert.equal(compileFilter({ age: { $gte: 18, $lt: 65 } })({ age: 18 }), true);
    assert.equal(compileFilter({ age: { $gte: 18, $lt: 65 } })({ age: 65 }), false);
    assert.equal(compileFilter({ name: { $gt: "b" } })({ name: "c" }), true);
    assert.equal(compileFilter({ name: { $gt: "b" } })({ name: 3 }), false);
    assert.equal(compileFilter({ age: { $lt: 5 } })({}), false, "a missing field is not less than anything");
    assert.equal(compileFilter({ o: { $eq: { a: 1 } } })({ o: { a: 1 } }), true);
  });

  test("a malformed filter is refused before it reaches the server", () => {
    assert.throws(() => compileFilter({ p: { $regex: "x" } } as never), TypeError);
    assert.throws(() => compileFilter({ p: { $in: 1 } } as never), TypeError);
    assert.throws(() => compileFilter({ p: {} }), TypeError);
    assert.throws(() => compileFilter({ "a.b": 1 }), TypeError);
  });
});

describe("errors", () => {
  test("an error frame becomes the error type callers catch, with the stable code", () => {
    const conflict = LockstepError.fromFrame({ code: "version_conflict", message: "stale", op: 1, current: { collection: "c", id: "d", v: 6, doc: { x: 1 } } });
    assert.ok(conflict instanceof VersionConflictError);
    assert.equal(conflict.currentVersion, 6);
    assert.deepEqual(conflict.currentDocument, { x: 1 });
    assert.equal(conflict.op, 1);
    const rejected = LockstepError.fromFrame({ code: "mutation_rejected", reason: "out_of_stock", message: "Only 1 left." });
    assert.ok(rejected instanceof MutationRejectedError);
    assert.equal(rejected.reason, "out_of_stock");
    assert.equal(LockstepError.fromFrame({ code: "overloaded", message: "" }).transient, true);
    assert.equal(LockstepError.fromFrame({ code: "forbidden", message: "" }).transient, false);
    assert.equal(LockstepError.fromFrame({ code: "a_code_from_the_future", message: "" }).transient, false);
  });

  test("the catalog matches docs/errors.md", () => {
    // The headings of the server's error catalog, read from the repository (tests run in clients/typescript).
    const doc = readFileSync(new URL("../../../../../docs/errors.md", import.meta.url), "utf8");
    const documented = [...doc.matchAll(/^## ([a-z_]+)$/gm)].map((m) => m[1]).sort();
    assert.deepEqual(Object.keys(ErrorCodes).sort(), documented);
    assert.deepEqual(
      Object.entries(ErrorCodes).filter(([, transient]) => transient).map(([code]) => code),
      ["idle_timeout", "overloaded", "storage_unavailable", "shutting_down", "rate_limited", "token_expired", "delivery_failed"],
    );
  });
});

describe("retries", () => {
  test("backoff is full jitter under a doubling ceiling", () => {
    assert.equal(backoffDelay(0, 200, 10_000, () => 0.999999) < 200, true);
    assert.equal(Math.round(backoffDelay(3, 200, 10_000, () => 1)), 1_600);
    assert.equal(backoffDelay(20, 200, 10_000, () => 1), 10_000);
    assert.equal(backoffDelay(5, 200, 10_000, () => 0), 0);
  });

  test("the circuit opens after the failures in a row, half-opens for one trial, and closes on success", () => {
    let now = 0;
    const breaker = new CircuitBreaker(3, 1_000, () => now);
    breaker.failure();
    breaker.failure();
    assert.equal(breaker.state, "closed");
    breaker.success();
    breaker.failure();
    breaker.failure();
    breaker.failure();
    assert.equal(breaker.state, "open");
    assert.equal(breaker.available, false);
    now = 1_000;
    assert.equal(breaker.state, "half-open");
    breaker.attempt();
    assert.equal(breaker.available, false, "one trial at a time");
    breaker.failure();
    assert.equal(breaker.state, "open");
    now = 2_000;
    breaker.attempt();
    breaker.success();
    assert.equal(breaker.state, "closed");
  });
});
