// The client against the real C# server on loopback (LOCKSTEP_CLI_DLL). Each test makes its own
// collection names; tests that stop a server or cut connections get their own server or proxy.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { WebSocket } from "ws";
import {
  LockstepClient,
  LockstepError,
  MemoryStore,
  VersionConflictError,
  WriteOp,
  type ConnectionState,
  type LockstepClientOptions,
  type RemoteUpdate,
} from "../../src/index.js";
import { LockstepServer, TcpProxy, freePort, sleep, testEncoding, waitFor } from "./harness.js";

let unique = 0;
function name(prefix: string): string {
  return `${prefix}-${process.pid}-${++unique}`;
}

const clients: LockstepClient[] = [];
function client(urls: string[], options: Partial<LockstepClientOptions> = {}): LockstepClient {
  const logger = process.env["LOCKSTEP_TEST_LOG"] === "1" ? console : undefined;
  const made = new LockstepClient({ urls, webSocket: WebSocket, encoding: testEncoding, reconnectBaseDelayMs: 50, reconnectMaxDelayMs: 500, circuitBreakDurationMs: 1_000, requestTimeoutMs: 5_000, logger, ...options });
  clients.push(made);
  return made;
}

async function disposeAll(): Promise<void> {
  await Promise.all(clients.splice(0).map((c) => c.dispose()));
}

interface Task {
  title: string;
  status: string;
  n?: number;
}

describe(`against one server (${testEncoding})`, () => {
  let server: LockstepServer;

  before(async () => {
    server = await LockstepServer.start({ args: ["--strict", "approvals"] });
  });

  after(async () => {
    await disposeAll();
    await server.dispose();
  });

  test("a subscription gets its snapshot, then live deltas carrying only the changed fields", async () => {
    const tasks = name("tasks");
    await server.put(tasks, "t1", { title: "Write spec", status: "open" });
    await server.put(tasks, "t2", { title: "Review", status: "done" });
    await server.put(tasks, "t3", { title: "Ship", status: "open" });
    const c = client([server.wsUrl]);
    await c.start();
    const open = c.collection<Task>(tasks).subscribe({ status: "open" });
    await open.ready();
    assert.deepEqual(open.results.map((t) => t.title), ["Write spec", "Ship"]);

    const updates: RemoteUpdate[] = [];
    c.collection<Task>(tasks).onRemoteUpdate((delta) => updates.push(delta));
    await server.patch(tasks, "t1", { title: "Write the spec" });
    await server.patch(tasks, "t2", { status: "open" });
    await server.patch(tasks, "t3", { status: "done" });
    await waitFor("three updates", () => updates.length === 3);

    assert.deepEqual(updates[0], { collection: tasks, id: "t1", version: 2, seq: updates[0]!.seq, kind: "changed", set: { title: "Write the spec" }, unset: [] });
    assert.equal(updates[1]!.kind, "entered");
    assert.deepEqual(updates[1]!.set, { title: "Review", status: "open" });
    assert.equal(updates[2]!.kind, "removed");
    assert.ok(updates[0]!.seq < updates[1]!.seq && updates[1]!.seq < updates[2]!.seq, "in log order");
    assert.deepEqual(open.results.map((t) => t.title), ["Write the spec", "Review"]);
    assert.equal(c.cursor, updates[2]!.seq);
  });

  test("the hook sees only other participants' changes, with the local state after each", async () => {
    const forms = name("forms");
    const a = client([server.wsUrl]);
    const b = client([server.wsUrl]);
    await Promise.all([a.start(), b.start()]);
    const seenByA: [RemoteUpdate, unknown][] = [];
    const seenByB: [RemoteUpdate, unknown][] = [];
    a.collection(forms).onRemoteUpdate((delta, local) => seenByA.push([delta, local]));
    b.collection(forms).onRemoteUpdate((delta, local) => seenByB.push([delta, local]));
    await Promise.all([a.collection(forms).subscribe().ready(), b.collection(forms).subscribe().ready()]);

    await a.collection(forms).put("f1", { title: "Q3", owner: "ana" });
    await a.collection(forms).patch("f1", { title: "Q4" });
    await waitFor("b to see both writes", () => seenByB.length === 2);
    await b.collection(forms).patch("f1", { owner: "bo" });
    await waitFor("a to see b's write", () => seenByA.length === 1);
    await sleep(100);

    assert.deepEqual(seenByB.map(([d, local]) => [d.kind, d.set, local]), [
      ["entered", { title: "Q3", owner: "ana" }, { title: "Q3", owner: "ana" }],
      ["changed", { title: "Q4" }, { title: "Q4", owner: "ana" }],
    ]);
    assert.equal(seenByA.length, 1, "a's hook never sees a's own writes");
    assert.deepEqual(seenByA[0]![0].set, { owner: "bo" });
    assert.deepEqual(seenByA[0]![1], { title: "Q4", owner: "bo" });
  });

  test("a write shows in the local view at once and is confirmed with the server's version", async () => {
    const todos = name("todos");
    const c = client([server.wsUrl]);
    await c.start();
    const all = c.collection(todos).subscribe();
    await all.ready();
    const states: (string | undefined)[] = [];
    all.onChange((change) => states.push(`${change.id}:${change.version}:${JSON.stringify(change.document)}:${change.isRemote}`));

    const write = c.collection(todos).put("t1", { title: "milk", done: false });
    assert.deepEqual(c.collection(todos).get("t1"), { title: "milk", done: false }, "visible before any round trip");
    assert.equal(c.collection(todos).getVersion("t1"), 0);
    assert.equal(c.pendingCount, 1);
    assert.equal(all.count, 1);
    const ack = await write;
    assert.equal(ack.results[0]!.version, 1);
    assert.equal(ack.duplicate, false);
    await waitFor("the confirmation", () => c.collection(todos).getVersion("t1") === 1);
    assert.equal(c.pendingCount, 0);
    assert.deepEqual(await server.get(todos, "t1"), { title: "milk", done: false });
    // One local change when written, one when confirmed at version 1; neither is remote.
    assert.deepEqual(states, ['t1:0:{"title":"milk","done":false}:false', 't1:1:{"title":"milk","done":false}:false']);
  });

  test("a version conflict reverts the local view, then rejects with the current document", async () => {
    const docs = name("docs");
    await server.put(docs, "d1", { title: "one" });
    await server.patch(docs, "d1", { title: "two" });
    const c = client([server.wsUrl]);
    await c.start();
    const col = c.collection(docs);
    await col.subscribe().ready();
    assert.equal(col.getVersion("d1"), 2);

    const write = col.patch("d1", { title: "mine" }, { ifVersion: 1 });
    assert.deepEqual(col.get("d1"), { title: "mine" }, "optimistic");
    const error = await write.then(
      () => assert.fail("the write should be refused"),
      (e: unknown) => e,
    );
    assert.ok(error instanceof VersionConflictError);
    assert.ok(error instanceof LockstepError);
    assert.equal(error.code, "version_conflict");
    assert.equal(error.transient, false);
    assert.equal(error.currentVersion, 2);
    assert.deepEqual(error.currentDocument, { title: "two" });
    assert.deepEqual(col.get("d1"), { title: "two" }, "back to the server's state before the rejection is seen");
    assert.equal(c.pendingCount, 0);
  });

  test("a batch is atomic, and errors carry the server's stable codes", async () => {
    const stock = name("stock");
    const c = client([server.wsUrl]);
    await c.start();
    const ack = await c.mutate([WriteOp.put(stock, "a", { count: 1 }), WriteOp.increment(stock, "a", "count", 2), WriteOp.put(stock, "b", { count: 5 })]);
    assert.deepEqual(ack.results.map((r) => r.version), [1, 2, 1]);
    assert.deepEqual(await server.get(stock, "a"), { count: 3 });

    const refused = await c.mutate([WriteOp.put(stock, "c", { count: 1 }), WriteOp.delete(stock, "missing")]).catch((e: unknown) => e);
    assert.ok(refused instanceof LockstepError);
    assert.equal(refused.code, "not_found");
    assert.equal(refused.op, 1);
    assert.equal(await server.get(stock, "c"), undefined, "nothing of a refused batch is written");

    const unknown = await c.call("noSuchMutator", { x: 1 }).catch((e: unknown) => e);
    assert.ok(unknown instanceof LockstepError);
    assert.equal(unknown.code, "unknown_mutator");
    assert.equal(unknown.transient, false);
  });

  test("a strict collection refuses a blind write with precondition_required, and takes one with the right version", async () => {
    const c = client([server.wsUrl]);
    await c.start();
    const approvals = c.collection("approvals");
    const id = name("a");
    await approvals.subscribe().ready();
    await approvals.put(id, { status: "draft" });
    await waitFor("the confirmation", () => approvals.getVersion(id) === 1);
    const blind = await approvals.patch(id, { status: "approved" }).catch((e: unknown) => e);
    assert.ok(blind instanceof VersionConflictError);
    assert.equal(blind.code, "precondition_required");
    assert.deepEqual(approvals.get(id), { status: "draft" });
    const ack = await approvals.patch(id, { status: "approved" }, { ifVersion: approvals.getVersion(id) });
    assert.equal(ack.results[0]!.version, 2);
  });

  test("a write over the server's frame limit is refused with frame_too_large, and the queue goes on", async () => {
    const big = name("big");
    const c = client([server.wsUrl]);
    await c.start();
    const tooLarge = c.collection(big).put("huge", { text: "x".repeat(1_100_000) });
    const next = c.collection(big).put("small", { text: "fits" });
    const error = await tooLarge.catch((e: unknown) => e);
    assert.ok(error instanceof LockstepError);
    assert.equal(error.code, "frame_too_large");
    assert.equal((await next).results[0]!.version, 1);
    assert.equal(c.state, "online", "the connection was never closed for it");
    assert.equal(await server.get(big, "huge"), undefined);
  });

  test("a live query's changes can be read as an async iterable", async () => {
    const items = name("items");
    const c = client([server.wsUrl]);
    await c.start();
    const query = c.collection(items).subscribe({ kind: "x" });
    await query.ready();
    const seen: string[] = [];
    const reading = (async () => {
      for await (const change of query.changes(AbortSignal.timeout(5_000))) {
        seen.push(`${change.id}:${change.document === undefined ? "gone" : "here"}`);
        if (seen.length === 3) {
          break;
        }
      }
    })();
    await sleep(20);
    await server.put(items, "i1", { kind: "x" });
    await server.put(items, "i2", { kind: "y" });
    await server.patch(items, "i1", { kind: "y" });
    await server.put(items, "i3", { kind: "x" });
    await reading;
    assert.deepEqual(seen, ["i1:here", "i1:gone", "i3:here"]);
    query.dispose();
  });

  test("the client connects to the second URL when the first is down", async () => {
    const deadPort = await freePort();
    const c = client([`ws://127.0.0.1:${deadPort}/v1/sync`, server.wsUrl]);
    const started = Date.now();
    await c.start(AbortSignal.timeout(10_000));
    assert.equal(c.connectedUrl, server.wsUrl);
    assert.ok(Date.now() - started < 5_000);
    const col = name("failover");
    await c.collection(col).put("x", { ok: true });
    assert.deepEqual(await server.get(col, "x"), { ok: true });
  });
});

describe(`offline, restarts and reconnection (${testEncoding})`, () => {
  after(async () => {
    await disposeAll();
  });

  test("writes made while the server is down are queued, then applied exactly once when it is back", async () => {
    const server = await LockstepServer.start();
    try {
      const counters = name("counters");
      const c = client([server.wsUrl]);
      const states: ConnectionState[] = [];
      c.onStateChange((s) => states.push(s));
      await c.start();
      await c.collection(counters).subscribe().ready();
      await server.stop();
      await waitFor("the client to notice", () => c.state !== "online");

      const writes = [1, 2, 3, 4, 5].map(() => c.collection(counters).increment("hits", "n", 1));
      writes.push(c.collection(counters).patch("hits", { label: "offline" }));
      assert.deepEqual(c.collection(counters).get("hits"), { n: 5, label: "offline" }, "queued writes show at once");
      assert.equal(c.pendingCount, 6);
      await sleep(300);
      await server.start();
      const acks = await Promise.all(writes);
      assert.ok(acks.every((a) => a.duplicate === false));
      await c.waitForPending();
      assert.deepEqual(await server.get(counters, "hits"), { n: 5, label: "offline" });
      assert.equal((await server.changes()).filter((ch) => ch.collection === counters).length, 6, "six writes, six changes");
      assert.equal(c.state, "online");
      assert.ok(states.includes("offline") || states.includes("connecting"));
    } finally {
      await disposeAll();
      await server.dispose();
    }
  });

  test("a write applied but never acknowledged is replayed after reconnecting and answered as a duplicate", async () => {
    const server = await LockstepServer.start();
    const proxy = await TcpProxy.start(server.port);
    try {
      const counters = name("counters");
      const c = client([proxy.wsUrl]);
      await c.start();
      proxy.swallowDownstream(true);
      const write = c.collection(counters).increment("hits", "n", 1);
      await waitFor("the server to apply it", async () => (await server.get(counters, "hits")) !== undefined);
      proxy.cut();
      proxy.swallowDownstream(false);
      const ack = await write;
      assert.equal(ack.duplicate, true, "the replay was recognised");
      assert.deepEqual(await server.get(counters, "hits"), { n: 1 });
      assert.equal((await server.changes()).filter((ch) => ch.collection === counters).length, 1);
    } finally {
      await disposeAll();
      await proxy.close();
      await server.dispose();
    }
  });

  test("a client restarted with the same store replays its queued writes exactly once", async () => {
    const server = await LockstepServer.start();
    const proxy = await TcpProxy.start(server.port);
    try {
      const counters = name("counters");
      const store = new MemoryStore();
      const first = client([proxy.wsUrl], { store });
      await first.start();
      const clientId = first.clientId;
      // One write reaches the server but its ack is lost; two more never leave while the server is unreachable.
      proxy.swallowDownstream(true);
      void first.collection(counters).increment("hits", "n", 1);
      await waitFor("the server to apply the first", async () => (await server.get(counters, "hits")) !== undefined);
      proxy.cut();
      proxy.swallowDownstream(false);
      proxy.refuse(true);
      void first.collection(counters).increment("hits", "n", 10);
      void first.collection(counters).increment("hits", "n", 100);
      assert.equal(first.pendingCount, 3);
      await first.dispose();
      assert.equal(store.pendingCount, 3, "the queue is in the store");

      proxy.refuse(false);
      const second = client([proxy.wsUrl], { store });
      assert.equal(second.clientId, clientId, "the id comes from the store");
      assert.equal(second.pendingCount, 3);
      assert.equal(second.collection(counters).get("hits")?.["n"], 111, "the queued writes show at once");
      await second.start();
      await second.waitForPending();
      await waitFor("the queue to drain", () => second.pendingCount === 0 && store.pendingCount === 0);
      assert.deepEqual(await server.get(counters, "hits"), { n: 111 });
      const changes = (await server.changes()).filter((ch) => ch.collection === counters);
      assert.equal(changes.length, 3, "each write applied once");
      assert.ok(changes.every((ch) => ch.clientId === clientId));
      const mids = changes.map((ch) => ch.mid!);
      assert.deepEqual([...mids].sort((x, y) => x - y), mids, "in their original order");

      // New writes after the restart never reuse a number.
      await second.collection(counters).increment("hits", "n", 1000);
      const after = (await server.changes()).filter((ch) => ch.collection === counters).map((ch) => ch.mid!);
      assert.equal(new Set(after).size, 4);
      assert.ok(after[3]! > Math.max(...mids));
    } finally {
      await disposeAll();
      await proxy.close();
      await server.dispose();
    }
  });

  test("a client restarted with the same store shows its cache at once, then resumes from its saved cursor", async () => {
    const server = await LockstepServer.start();
    try {
      const notes = name("notes");
      await server.put(notes, "a", { text: "one" });
      await server.put(notes, "b", { text: "two" });
      const store = new MemoryStore();
      const first = client([server.wsUrl], { store });
      await first.start();
      await first.collection(notes).subscribe().ready();
      await sleep(250); // the cache and cursor are saved every 100 ms
      await first.dispose();

      await server.patch(notes, "a", { text: "one, edited" });
      await server.remove(notes, "b");
      await server.put(notes, "c", { text: "three" });

      const second = client([server.wsUrl], { store });
      const query = second.collection(notes).subscribe();
      await query.ready(AbortSignal.timeout(1_000));
      assert.deepEqual(query.results, [{ text: "one" }, { text: "two" }], "the cached view, before any connection");
      const updates: RemoteUpdate[] = [];
      second.collection(notes).onRemoteUpdate((delta) => updates.push(delta));
      await second.start();
      await waitFor("the missed changes", () => updates.length === 3);
      assert.deepEqual(updates.map((u) => [u.kind, u.id, u.set]), [["changed", "a", { text: "one, edited" }], ["deleted", "b", {}], ["entered", "c", { text: "three" }]]);
      assert.deepEqual(query.results, [{ text: "one, edited" }, { text: "three" }]);
    } finally {
      await disposeAll();
      await server.dispose();
    }
  });

  test("after a dropped connection the client resumes from its cursor and misses nothing", async () => {
    const server = await LockstepServer.start();
    const proxy = await TcpProxy.start(server.port);
    try {
      const notes = name("notes");
      for (let i = 0; i < 5; i++) {
        await server.put(notes, `n${i}`, { text: `note ${i}`, v: 0 });
      }
      const c = client([proxy.wsUrl]);
      await c.start();
      const query = c.collection(notes).subscribe();
      await query.ready();
      const updates: RemoteUpdate[] = [];
      c.collection(notes).onRemoteUpdate((delta) => updates.push(delta));

      proxy.refuse(true);
      proxy.cut();
      await waitFor("the client to notice", () => c.state !== "online");
      for (let round = 1; round <= 4; round++) {
        for (let i = 0; i < 5; i++) {
          await server.patch(notes, `n${i}`, { v: round });
        }
      }
      await server.remove(notes, "n4");
      await server.put(notes, "n5", { text: "new", v: 0 });
      const connectionsBefore = proxy.connections;
      proxy.refuse(false);
      await waitFor("the client to catch up", () => updates.length === 22, 10_000);
      assert.ok(proxy.connections > connectionsBefore);

      // Resumed, not reloaded: 20 field deltas, one delete, one new document, in log order.
      assert.equal(updates.filter((u) => u.kind === "changed").length, 20);
      assert.ok(updates.filter((u) => u.kind === "changed").every((u) => Object.keys(u.set).join() === "v"));
      assert.deepEqual(updates.slice(20).map((u) => [u.kind, u.id]), [["deleted", "n4"], ["entered", "n5"]]);
      for (let i = 1; i < updates.length; i++) {
        assert.ok(updates[i]!.seq > updates[i - 1]!.seq);
      }
      const truth = await server.list(notes);
      assert.deepEqual(new Map([...query.documents].map(([id, doc]) => [id, doc])), new Map([...truth].map(([id, d]) => [id, d.doc])));
      for (const [id, d] of truth) {
        assert.equal(c.collection(notes).getVersion(id), d.v);
      }
    } finally {
      await disposeAll();
      await proxy.close();
      await server.dispose();
    }
  });

  test("a silent dead connection is found by the heartbeat and replaced", async () => {
    const server = await LockstepServer.start();
    const proxy = await TcpProxy.start(server.port);
    try {
      const notes = name("notes");
      const c = client([proxy.wsUrl], { heartbeatIntervalMs: 200 });
      await c.start();
      const query = c.collection(notes).subscribe();
      await query.ready();
      const states: ConnectionState[] = [];
      c.onStateChange((s) => states.push(s));
      proxy.blackhole(true);
      await server.put(notes, "during", { text: "written while the network was dead" });
      await waitFor("the heartbeat to give the connection up", () => states.includes("connecting"), 3_000);
      proxy.blackhole(false);
      proxy.cut();
      await waitFor("the client to be back", () => c.state === "online", 5_000);
      await waitFor("the missed write", () => query.count === 1, 5_000);
      assert.deepEqual(query.results, [{ text: "written while the network was dead" }]);
    } finally {
      await disposeAll();
      await proxy.close();
      await server.dispose();
    }
  });
});
