// The client's protocol logic against a scripted server (fake-network.ts): rebase, refusals,
// resume, replay, resynchronization, heartbeats, mutation numbers.
import assert from "node:assert/strict";
import { afterEach, describe, test } from "node:test";
import {
  ClientDisposedError,
  LockstepClient,
  LockstepError,
  MemoryStore,
  MutationRejectedError,
  VersionConflictError,
  type ClientStore,
  type JsonObject,
  type LockstepClientOptions,
  type RemoteUpdate,
  type StoredState,
} from "../../src/index.js";
import { FakeNetwork, testEncoding, tick, until, type FakeSocket } from "./fake-network.js";

const made: LockstepClient[] = [];
function connect(network: FakeNetwork, options: Partial<LockstepClientOptions> = {}): LockstepClient {
  const client = new LockstepClient({ urls: ["ws://fake/v1/sync"], webSocket: network.WebSocket, encoding: testEncoding, reconnectBaseDelayMs: 5, reconnectMaxDelayMs: 20, ...options });
  made.push(client);
  return client;
}

afterEach(async () => {
  await Promise.all(made.splice(0).map((c) => c.dispose()));
});

/** Answers the client's `sub` with a one-frame snapshot at `seq`. */
function snapshot(socket: FakeSocket, sub: string, seq: number, docs: { id: string; v: number; doc: JsonObject }[], extra: JsonObject = {}): void {
  socket.deliver({ t: "snapshot", id: `s:${sub}`, sub, seq, docs, last: true, ...extra });
}

async function subscribed(network: FakeNetwork, client: LockstepClient, collection: string, docs: { id: string; v: number; doc: JsonObject }[] = [], seq = 10) {
  const query = client.collection(collection).subscribe();
  await until("the sub frame", () => network.last.framesOf("sub").length > 0);
  snapshot(network.last, query.name, seq, docs);
  await query.ready();
  return query;
}

describe("the local view", () => {
  test("hello carries the client id; a subscription is asked for once online and is ready with its snapshot", async () => {
    const network = new FakeNetwork();
    const client = connect(network, { clientId: "c-test" });
    const query = client.collection("tasks").subscribe({ status: "open" });
    await client.start();
    const hello = network.last.framesOf("hello")[0]!;
    assert.equal(hello["clientId"], "c-test");
    assert.equal(hello["protocol"], 1);
    assert.equal(hello["cursor"], undefined, "nothing to resume yet");
    await until("the sub", () => network.last.framesOf("sub").length === 1);
    const sub = network.last.framesOf("sub")[0]!;
    assert.deepEqual(sub["filter"], { status: "open" });
    assert.equal(sub["collection"], "tasks");
    snapshot(network.last, query.name, 7, [{ id: "b", v: 2, doc: { status: "open", n: 2 } }, { id: "a", v: 1, doc: { status: "open", n: 1 } }]);
    await query.ready();
    assert.deepEqual(query.results, [{ status: "open", n: 1 }, { status: "open", n: 2 }]);
    assert.equal(client.cursor, 7);
  });

  test("a pending write stays on top of remote changes until its own change arrives", async () => {
    const network = new FakeNetwork();
    const client = connect(network);
    await client.start();
    const forms = client.collection("forms");
    await subscribed(network, client, "forms", [{ id: "f", v: 1, doc: { title: "a", owner: "x" } }]);
    const updates: [RemoteUpdate, unknown][] = [];
    forms.onRemoteUpdate((delta, local) => updates.push([delta, local]));

    const write = forms.patch("f", { title: "mine" });
    await until("the mut", () => network.last.framesOf("mut").length === 1);
    const mut = network.last.framesOf("mut")[0]!;
    const mid = mut["mid"] as number;
    assert.equal(mut["id"], `m${mid}`);
    // Someone else changes both fields first; our pending title stays visible on top.
    network.last.deliver({ t: "chg", sub: (await firstSubName(network)), seq: 11, id: "f", v: 2, set: { title: "theirs", owner: "y" } });
    await tick();
    assert.deepEqual(forms.get("f"), { title: "mine", owner: "y" });
    assert.equal(forms.getVersion("f"), 2);
    assert.deepEqual(updates.map(([d, local]) => [d.kind, d.set, local]), [["changed", { title: "theirs", owner: "y" }, { title: "mine", owner: "y" }]]);

    // Our own change (carrying our mid) arrives before the ack: it is not a remote update, and the view holds.
    network.last.deliver({ t: "chg", sub: await firstSubName(network), seq: 12, id: "f", v: 3, mid, set: { title: "mine" } });
    network.last.deliver({ t: "ack", id: `m${mid}`, seq: 12, results: [{ collection: "forms", id: "f", v: 3 }] });
    const ack = await write;
    assert.equal(ack.seq, 12);
    assert.deepEqual(forms.get("f"), { title: "mine", owner: "y" });
    assert.equal(forms.getVersion("f"), 3);
    assert.equal(client.pendingCount, 0);
    await tick();
    assert.equal(updates.length, 1, "own writes never reach the hook");
  });

  test("an acknowledged write stays in the view until the stream reaches its seq", async () => {
    const network = new FakeNetwork();
    const client = connect(network);
    await client.start();
    const counters = client.collection("counters");
    await subscribed(network, client, "counters", [{ id: "c", v: 1, doc: { n: 1 } }]);
    const write = counters.increment("c", "n", 5);
    await until("the mut", () => network.last.framesOf("mut").length === 1);
    const mid = network.last.framesOf("mut")[0]!["mid"] as number;
    network.last.deliver({ t: "ack", id: `m${mid}`, seq: 13, results: [{ collection: "counters", id: "c", v: 3 }] });
    await write;
    assert.deepEqual(counters.get("c"), { n: 6 }, "still shown on top of version 1");
    // Another client's increment (seq 12, v2) arrives: ours stays on top.
    network.last.deliver({ t: "chg", sub: await firstSubName(network), seq: 12, id: "c", v: 2, set: { n: 2 } });
    assert.deepEqual(counters.get("c"), { n: 7 });
    network.last.deliver({ t: "chg", sub: await firstSubName(network), seq: 13, id: "c", v: 3, set: { n: 7 } });
    assert.deepEqual(counters.get("c"), { n: 7 });
    assert.equal(counters.getVersion("c"), 3);
  });

  test("a refused write leaves the view at the server's state before its rejection is seen", async () => {
    const network = new FakeNetwork();
    const client = connect(network);
    await client.start();
    const docs = client.collection("docs");
    await subscribed(network, client, "docs", [{ id: "d", v: 4, doc: { title: "server" } }]);
    const write = docs.put("d", { title: "mine" }, { ifVersion: 3 });
    assert.deepEqual(docs.get("d"), { title: "mine" });
    await until("the mut", () => network.last.framesOf("mut").length === 1);
    const mut = network.last.framesOf("mut")[0]!;
    assert.deepEqual(mut["ops"], [{ op: "put", collection: "docs", id: "d", doc: { title: "mine" }, ifVersion: 3 }]);
    network.last.deliver({ t: "error", id: mut["id"]!, code: "version_conflict", message: "docs/d must be at version 3 but is at version 4.", op: 0, current: { collection: "docs", id: "d", v: 4, doc: { title: "server" } } });
    const seen = await write.then(
      () => assert.fail("refused"),
      (error: unknown) => ({ error, view: docs.get("d") }),
    );
    assert.ok(seen.error instanceof VersionConflictError);
    assert.equal(seen.error.currentVersion, 4);
    assert.equal(seen.error.op, 0);
    assert.deepEqual(seen.view, { title: "server" });
  });

  test("a mutator's refusal carries its reason", async () => {
    const network = new FakeNetwork();
    const client = connect(network);
    await client.start();
    const call = client.call("reserveStock", { sku: "s1", qty: 2 });
    await until("the call", () => network.last.framesOf("call").length === 1);
    const frame = network.last.framesOf("call")[0]!;
    assert.deepEqual(frame["args"], { sku: "s1", qty: 2 });
    assert.equal(typeof frame["mid"], "number");
    network.last.deliver({ t: "error", id: frame["id"]!, code: "mutation_rejected", reason: "out_of_stock", message: "Only 1 left." });
    const error = await call.catch((e: unknown) => e);
    assert.ok(error instanceof MutationRejectedError);
    assert.equal(error.reason, "out_of_stock");
    assert.equal(error.code, "mutation_rejected");
  });

  test("a transient refusal is retried with the same mutation number", async () => {
    const network = new FakeNetwork();
    const client = connect(network);
    await client.start();
    const write = client.collection("x").put("a", { v: 1 });
    await until("the mut", () => network.last.framesOf("mut").length === 1);
    const first = network.last.framesOf("mut")[0]!;
    network.last.deliver({ t: "error", id: first["id"]!, code: "overloaded", message: "busy" });
    await until("the retry", () => network.last.framesOf("mut").length === 2);
    const second = network.last.framesOf("mut")[1]!;
    assert.equal(second["mid"], first["mid"]);
    network.last.deliver({ t: "ack", id: second["id"]!, seq: 1, results: [{ collection: "x", id: "a", v: 1 }] });
    assert.equal((await write).seq, 1);
  });

  test("a write larger than the server's frame limit is refused with frame_too_large and does not block the queue", async () => {
    const network = new FakeNetwork();
    network.maxFrameBytes = 1_024;
    const client = connect(network);
    await client.start();
    const big = client.collection("x").put("big", { text: "é".repeat(600) });
    const small = client.collection("x").put("small", { text: "ok" });
    const error = await big.catch((e: unknown) => e);
    assert.ok(error instanceof LockstepError);
    assert.equal(error.code, "frame_too_large");
    assert.equal(client.collection("x").get("big"), undefined, "reverted");
    await until("the small write", () => network.last.framesOf("mut").length === 1);
    assert.equal((network.last.framesOf("mut")[0]!["ops"] as JsonObject[])[0]!["id"], "small");
    network.last.deliver({ t: "ack", id: network.last.framesOf("mut")[0]!["id"]!, seq: 1, results: [{ collection: "x", id: "small", v: 1 }] });
    await small;
  });

  test("watch yields every change of the collection's view until its signal aborts", async () => {
    const network = new FakeNetwork();
    const client = connect(network);
    await client.start();
    const query = await subscribed(network, client, "w", [], 1);
    const abort = new AbortController();
    const seen: string[] = [];
    const reading = (async () => {
      for await (const change of client.collection("w").watch(abort.signal)) {
        seen.push(`${change.id}@${change.version}:${change.isRemote ? "remote" : "local"}`);
        if (seen.length === 2) {
          abort.abort();
        }
      }
    })();
    await tick();
    void client.collection("w").put("mine", { a: 1 });
    network.last.deliver({ t: "chg", sub: query.name, seq: 2, id: "theirs", v: 1, doc: { b: 1 } });
    await assert.rejects(reading, { name: "AbortError" });
    assert.deepEqual(seen, ["mine@0:local", "theirs@1:remote"]);
  });

  test("a signal stops the wait, not the write", async () => {
    const network = new FakeNetwork();
    const client = connect(network);
    const abort = new AbortController();
    const write = client.collection("x").put("a", { v: 1 }, { signal: abort.signal });
    abort.abort();
    await assert.rejects(write, { name: "AbortError" });
    assert.equal(client.pendingCount, 1);
    await client.start();
    await until("the mut", () => network.last.framesOf("mut").length === 1);
  });
});

describe("connections", () => {
  test("a reconnect resumes established subscriptions from the cursor and replays unacknowledged writes in order", async () => {
    const network = new FakeNetwork();
    const client = connect(network);
    await client.start();
    const query = await subscribed(network, client, "tasks", [{ id: "t", v: 1, doc: { n: 0 } }], 20);
    network.last.deliver({ t: "pos", seq: 25 });
    void client.collection("tasks").increment("t", "n", 1);
    void client.collection("tasks").increment("t", "n", 2);
    await until("two muts", () => network.last.framesOf("mut").length === 2);
    const sentBefore = network.last.framesOf("mut").map((f) => [f["id"], f["mid"]]);

    const firstSocket = network.last;
    firstSocket.drop(1001);
    await until("a new socket", () => network.sockets.length === 2 && network.last.framesOf("hello").length === 1);
    const hello = network.last.framesOf("hello")[0]!;
    assert.equal(hello["cursor"], 25);
    assert.deepEqual(hello["subs"], [{ sub: query.name, collection: "tasks" }], "no filter: none written (tests/fixtures/frames.json, sub-no-filter)");
    await until("the replay", () => network.last.framesOf("mut").length === 2);
    assert.deepEqual(network.last.framesOf("mut").map((f) => [f["id"], f["mid"]]), sentBefore);
    assert.equal(network.last.framesOf("sub").length, 0, "resumed, not subscribed again");
    assert.deepEqual(client.collection("tasks").get("t"), { n: 3 });
  });

  test("a delta for a version not held drops the connection and starts again from snapshots", async () => {
    const network = new FakeNetwork();
    const client = connect(network);
    await client.start();
    const query = await subscribed(network, client, "tasks", [{ id: "t", v: 1, doc: { n: 0 } }], 20);
    network.last.deliver({ t: "chg", sub: query.name, seq: 21, id: "t", v: 3, set: { n: 2 } });
    await until("a new socket", () => network.sockets.length === 2 && network.last.framesOf("hello").length === 1);
    const hello = network.last.framesOf("hello")[0]!;
    assert.equal(hello["subs"], undefined, "nothing resumed");
    await until("a fresh sub", () => network.last.framesOf("sub").length === 1);
    snapshot(network.last, query.name, 30, [{ id: "t", v: 3, doc: { n: 2 } }]);
    await until("the new state", () => client.collection("tasks").getVersion("t") === 3);
    assert.deepEqual(query.results, [{ n: 2 }]);
  });

  test("a refused resume replaces what a subscription held with the new snapshot", async () => {
    const network = new FakeNetwork();
    const client = connect(network);
    await client.start();
    const query = await subscribed(network, client, "tasks", [{ id: "old", v: 5, doc: { n: 5 } }], 20);
    network.resumable = false;
    network.last.drop();
    await until("a new hello", () => network.sockets.length === 2 && network.last.framesOf("hello").length === 1);
    snapshot(network.last, query.name, 3, [{ id: "new", v: 1, doc: { n: 1 } }], { id: "h", reset: true });
    await until("the reset", () => query.count === 1 && query.results[0]?.["n"] === 1);
    assert.equal(client.cursor, 3, "the cursor follows the server back");
  });

  test("a connection that receives nothing for two heartbeats is replaced", async () => {
    const network = new FakeNetwork();
    const client = connect(network, { heartbeatIntervalMs: 40 });
    await client.start();
    const first = network.last;
    await until("a ping", () => first.framesOf("ping").length > 0, 1_000);
    // The fake server never answers pings: the client must give up and reconnect.
    await until("a second connection", () => network.sockets.length >= 2, 1_000);
    assert.ok(first.closedByClient);
  });

  test("the client fails over to the next URL and keeps it", async () => {
    const network = new FakeNetwork();
    const client = connect(network, { urls: ["ws://down/v1/sync", "ws://up/v1/sync"] });
    const original = network.onFrame.bind(network);
    network.onFrame = (socket, frame) => {
      if (socket.url.includes("down")) {
        socket.drop(1011);
        return;
      }
      original(socket, frame);
    };
    await client.start();
    assert.equal(client.connectedUrl, "ws://up/v1/sync");
  });

  test("state changes are observable in order", async () => {
    const network = new FakeNetwork();
    const client = connect(network);
    const states: string[] = [];
    client.onStateChange((s) => states.push(s));
    await client.start();
    network.last.drop();
    await until("online again", () => network.sockets.length === 2 && client.state === "online");
    await client.dispose();
    await tick();
    assert.deepEqual(states, ["connecting", "online", "connecting", "online", "closed"]);
  });
});

describe("the store", () => {
  test("mutation numbers never repeat across restarts with one store", async () => {
    const store = new MemoryStore();
    const network = new FakeNetwork();
    const mids: number[] = [];
    network.answer = (socket, frame) => {
      if (frame["t"] === "mut") {
        mids.push(frame["mid"] as number);
        socket.deliver({ t: "ack", id: frame["id"]!, seq: mids.length, results: [{ collection: "x", id: "a", v: mids.length }] });
      }
    };
    for (let run = 0; run < 3; run++) {
      const client = connect(network, { store });
      await client.start();
      await client.collection("x").increment("a", "n");
      await client.collection("x").increment("a", "n");
      await client.dispose();
    }
    assert.equal(new Set(mids).size, 6);
    assert.deepEqual([...mids].sort((a, b) => a - b), mids, "increasing");
  });

  test("writes made before an asynchronous store is read show at once and go out after the stored ones", async () => {
    const stored: StoredState = {
      meta: { clientId: "c-stored", midReserved: "500" },
      docs: [],
      subs: [],
      pending: [{ mid: 42, frame: { t: "mut", mid: 42, ops: [{ op: "inc", collection: "x", id: "a", path: "n", by: 1 }] } }],
    };
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const memory = new MemoryStore();
    const slow: ClientStore = {
      open: async () => {
        await gate;
        memory.open();
        return stored;
      },
      setMeta: (k, v) => memory.setMeta(k, v),
      addPending: (w) => memory.addPending(w),
      removePending: (m) => memory.removePending(m),
      flush: (b) => memory.flush(b),
      close: () => memory.close(),
    };
    const network = new FakeNetwork();
    const client = connect(network, { store: slow });
    void client.collection("x").increment("a", "n", 10);
    assert.deepEqual(client.collection("x").get("a"), { n: 10 }, "shown before the store is read");
    client.start().catch(() => undefined);
    release();
    await client.restored();
    assert.equal(client.clientId, "c-stored");
    assert.deepEqual(client.collection("x").get("a"), { n: 11 });
    await until("both sent", () => network.sockets.length > 0 && network.last.framesOf("mut").length === 2);
    const mids = network.last.framesOf("mut").map((f) => f["mid"]);
    assert.equal(mids[0], 42);
    assert.ok((mids[1] as number) > 500, "numbered after the reserved block");
  });

  test("a client restored from its store shows its cache and ready queries before connecting", async () => {
    const store = new MemoryStore();
    const network = new FakeNetwork();
    const first = connect(network, { store });
    await first.start();
    const query = await subscribed(network, first, "tasks", [{ id: "t", v: 2, doc: { n: 2 } }], 30);
    await tick(150); // a flush
    await first.dispose();

    const offline = new FakeNetwork();
    offline.refuse = true;
    const second = connect(offline, { store });
    const again = second.collection("tasks").subscribe();
    assert.equal(again.name, query.name, "the same collection and filter find the same subscription");
    await again.ready(AbortSignal.timeout(500));
    assert.deepEqual(again.results, [{ n: 2 }]);
    assert.equal(second.cursor, 30);
  });

  test("dispose rejects writes still waiting, and the client refuses new ones", async () => {
    const network = new FakeNetwork();
    network.refuse = true;
    const client = connect(network);
    void client.start().catch(() => undefined);
    const write = client.collection("x").put("a", { v: 1 });
    await client.dispose();
    await assert.rejects(write, ClientDisposedError);
    await assert.rejects(client.collection("x").put("b", { v: 1 }), ClientDisposedError);
    assert.equal(client.state, "closed");
  });
});

async function firstSubName(network: FakeNetwork): Promise<string> {
  await until("a sub", () => network.sockets.some((s) => s.framesOf("sub").length > 0));
  return network.sockets.flatMap((s) => s.framesOf("sub"))[0]!["sub"] as string;
}

describe("encodings", () => {
  test("the client offers the subprotocol of its encoding, and a MessagePack client takes binary messages as ArrayBuffers", async () => {
    for (const encoding of ["json", "msgpack"] as const) {
      const network = new FakeNetwork();
      const client = connect(network, { encoding });
      await client.start();
      assert.deepEqual(network.last.offered, [encoding === "json" ? "lockstep.v1.json" : "lockstep.v1.msgpack"]);
      assert.equal(network.last.binaryType === "arraybuffer", encoding === "msgpack");
      const query = client.collection("tasks").subscribe();
      await until("the sub", () => network.last.framesOf("sub").length === 1);
      snapshot(network.last, query.name, 3, [{ id: "a", v: 1, doc: { n: 2 ** 40, x: 1.5, s: "é" } }]);
      await query.ready();
      assert.deepEqual(query.results, [{ n: 2 ** 40, x: 1.5, s: "é" }]);
    }
  });

  test("what goes on the wire: JSON text in the fixture's field order, MessagePack bytes in the layouts of §11", async () => {
    const json = new FakeNetwork();
    const jsonClient = connect(json, { clientId: "c-wire", encoding: "json" });
    const jsonQuery = jsonClient.collection("tasks").subscribe({ status: "open" });
    await jsonClient.start();
    await until("the sub", () => json.last.messages.length === 2);
    assert.equal(json.last.messages[0], '{"t":"hello","id":"h","clientId":"c-wire","protocol":1}');
    assert.equal(json.last.messages[1], `{"t":"sub","id":"s:${jsonQuery.name}","sub":"${jsonQuery.name}","collection":"tasks","filter":{"status":"open"}}`);

    const msgpack = new FakeNetwork();
    msgpack.answer = (socket, frame) => {
      if (frame["t"] === "mut") {
        socket.deliver({ t: "ack", id: frame["id"]!, seq: 1, results: [{ collection: "x", id: "d", v: 1 }] });
      }
    };
    const client = connect(msgpack, { clientId: "c-wire", encoding: "msgpack" });
    await client.start();
    await client.collection("x").delete("d");
    const [hello, mut] = msgpack.last.messages;
    assert.ok(hello instanceof Uint8Array && mut instanceof Uint8Array);
    // [1, {"id": "h", "clientId": "c-wire", "protocol": 1}]
    assert.equal(Buffer.from(hello).toString("hex"), "920183a26964a168a8636c69656e744964a6632d77697265a870726f746f636f6c01");
    // [5, "m<mid>", <mid>, [[3, "x", "d"]]]: the mid is a uint 64 (reserved from the clock), the delete three elements.
    const mid = msgpack.last.framesOf("mut")[0]!["mid"] as number;
    const midHex = mid.toString(16).padStart(16, "0");
    const id = Buffer.from(`m${mid}`).toString("hex");
    assert.equal(Buffer.from(mut).toString("hex"), `9405${(0xa0 + id.length / 2).toString(16)}${id}cf${midHex}919303a178a164`);
  });

  test("a MessagePack client refuses a server that answers no subprotocol or another, and sends it nothing", async () => {
    for (const answer of ["", "lockstep.v1.json"]) {
      const network = new FakeNetwork();
      network.answerProtocol = answer;
      const lines: string[] = [];
      const client = connect(network, { encoding: "msgpack", logger: { info: (message: string) => lines.push(message) } });
      void client.start().catch(() => undefined);
      await until("a refused attempt", () => lines.some((l) => l.includes("connection attempt")));
      assert.match(lines.find((l) => l.includes("connection attempt"))!, /does not speak lockstep\.v1\.msgpack/);
      assert.equal(client.state === "online", false);
      // The first socket: the client may already be on its next attempt.
      assert.deepEqual(network.sockets.flatMap((socket) => socket.sent), []);
      assert.equal(network.sockets[0]!.closedByClient, true);
    }
  });

  test("a JSON client still talks to a server of before the encodings, which answers no subprotocol", async () => {
    const network = new FakeNetwork();
    network.answerProtocol = "";
    const client = connect(network, { encoding: "json" });
    await client.start();
    assert.equal(client.state, "online");
  });

  test("a write MessagePack cannot spell (a lone surrogate) is refused with bad_frame, and does not block the queue", async () => {
    const network = new FakeNetwork();
    network.answer = (socket, frame) => {
      if (frame["t"] === "mut") {
        socket.deliver({ t: "ack", id: frame["id"]!, seq: 1, results: [{ collection: "x", id: "ok", v: 1 }] });
      }
    };
    const client = connect(network, { encoding: "msgpack" });
    await client.start();
    const bad = client.collection("x").put("bad", { s: "\ud800" });
    const good = client.collection("x").put("ok", { s: "fine" });
    await assert.rejects(bad, (error: unknown) => error instanceof LockstepError && error.code === "bad_frame");
    assert.equal((await good).seq, 1);
    assert.equal(network.last.framesOf("mut").length, 1);
  });

  test("an unknown encoding is refused when the client is made", () => {
    assert.throws(() => new LockstepClient({ urls: ["ws://fake/v1/sync"], encoding: "xml" as "json" }), TypeError);
  });
});
