// The stores: MemoryStore, and IndexedDbStore on fake-indexeddb (a pure-JS IndexedDB), also under a client.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { IDBFactory } from "fake-indexeddb";
import { IndexedDbStore, LockstepClient, MemoryStore, type ClientStore } from "../../src/index.js";
import { FakeNetwork, testEncoding, until } from "./fake-network.js";

/** A Web Locks stand-in: exclusive, ifAvailable only (all the store asks for). */
class FakeLocks {
  readonly held = new Set<string>();
  request(name: string, _options: { ifAvailable: boolean }, callback: (lock: { name: string } | null) => unknown): Promise<unknown> {
    if (this.held.has(name)) {
      return Promise.resolve(callback(null));
    }
    this.held.add(name);
    return Promise.resolve(callback({ name })).finally(() => this.held.delete(name));
  }
}

async function roundTrip(make: () => ClientStore): Promise<void> {
  const store = make();
  const empty = await store.open();
  assert.deepEqual(empty.pending, []);
  await store.setMeta("clientId", "c-1");
  await store.addPending({ mid: 7, frame: { t: "mut", mid: 7, ops: [] } });
  await store.addPending({ mid: 3, frame: { t: "mut", mid: 3, ops: [] } });
  await store.addPending({ mid: 9, frame: { t: "call", mid: 9, name: "x" } });
  await store.removePending(9);
  await store.flush({
    cursor: 42,
    upserts: [{ collection: "c", id: "d", version: 2, body: { a: 1 }, subs: ["q-1"] }, { collection: "c", id: "e", version: 1, body: { b: 1 }, subs: ["q-1"] }],
    deletes: [],
    subs: [{ name: "q-1", collection: "c", filter: { a: 1 }, established: true }],
    removedSubs: [],
  });
  await store.flush({ cursor: 43, upserts: [], deletes: [{ collection: "c", id: "e" }], subs: [], removedSubs: [] });
  await store.close();

  const reopened = make();
  const state = await reopened.open();
  assert.equal(state.meta["clientId"], "c-1");
  assert.equal(state.meta["cursor"], "43");
  assert.deepEqual(state.pending.map((p) => p.mid), [3, 7], "in mutation-number order");
  assert.deepEqual(state.docs, [{ collection: "c", id: "d", version: 2, body: { a: 1 }, subs: ["q-1"] }]);
  assert.deepEqual(state.subs, [{ name: "q-1", collection: "c", filter: { a: 1 }, established: true }]);
  await reopened.close();
}

describe("stores", () => {
  test("a memory store keeps what was written across clients, and only that", async () => {
    const memory = new MemoryStore();
    await roundTrip(() => memory);
  });

  test("a write is in the store before the call that made it returns, and leaves it once confirmed", async () => {
    const store = new MemoryStore();
    const network = new FakeNetwork();
    network.answer = (socket, frame) => {
      if (frame["t"] === "mut") {
        socket.deliver({ t: "ack", id: frame["id"]!, seq: 1, results: [{ collection: "x", id: "a", v: 1 }] });
      }
    };
    const client = new LockstepClient({ urls: ["ws://fake/v1/sync"], webSocket: network.WebSocket, encoding: testEncoding, store });
    try {
      const write = client.collection("x").put("a", { v: 1 });
      assert.equal(store.pendingCount, 1);
      await client.start();
      await write;
      await until("the removal", () => store.pendingCount === 0);
    } finally {
      await client.dispose();
    }
  });

  test("a write the store cannot save is refused, and never sent", async () => {
    const memory = new MemoryStore();
    const failing: ClientStore = {
      open: () => memory.open(),
      setMeta: (k, v) => memory.setMeta(k, v),
      addPending: () => {
        throw new Error("quota exceeded");
      },
      removePending: (m) => memory.removePending(m),
      flush: (b) => memory.flush(b),
      close: () => memory.close(),
    };
    const network = new FakeNetwork();
    const client = new LockstepClient({ urls: ["ws://fake/v1/sync"], webSocket: network.WebSocket, encoding: testEncoding, store: failing });
    try {
      await client.start();
      await assert.rejects(client.collection("x").put("a", { v: 1 }), /quota exceeded/);
      assert.equal(client.collection("x").get("a"), undefined);
      assert.equal(client.pendingCount, 0);
      assert.equal(network.last.framesOf("mut").length, 0);
    } finally {
      await client.dispose();
    }
  });

  test("a memory store is used by one client at a time", () => {
    const store = new MemoryStore();
    store.open();
    assert.throws(() => store.open(), /in use/);
    store.close();
    store.open();
  });

  test("an IndexedDB store keeps what was written across opens", async () => {
    const factory = new IDBFactory();
    await roundTrip(() => new IndexedDbStore("lockstep-test", { indexedDB: factory, locks: null }));
  });

  test("two tabs never share an IndexedDB store: the second takes the next slot", async () => {
    const factory = new IDBFactory();
    const locks = new FakeLocks();
    const first = new IndexedDbStore("app", { indexedDB: factory, locks: locks as unknown as LockManager });
    const second = new IndexedDbStore("app", { indexedDB: factory, locks: locks as unknown as LockManager });
    await first.open();
    await second.open();
    assert.equal(first.databaseName, "app");
    assert.equal(second.databaseName, "app-2");
    first.close();
    await until("the lock to be released", () => !locks.held.has("lockstep-store:app"));
    const third = new IndexedDbStore("app", { indexedDB: factory, locks: locks as unknown as LockManager });
    await third.open();
    assert.equal(third.databaseName, "app", "a slot a closed tab left is picked up");
    second.close();
    third.close();
  });

  test("a client on an IndexedDB store replays its queue after a restart", async () => {
    const factory = new IDBFactory();
    const network = new FakeNetwork();
    network.refuse = true;
    const first = new LockstepClient({ urls: ["ws://fake/v1/sync"], webSocket: network.WebSocket, encoding: testEncoding, store: new IndexedDbStore("queue", { indexedDB: factory, locks: null }) });
    void first.collection("x").increment("a", "n", 2);
    void first.collection("x").increment("a", "n", 3);
    await first.restored();
    const clientId = first.clientId;
    await first.dispose();

    const online = new FakeNetwork();
    const second = new LockstepClient({ urls: ["ws://fake/v1/sync"], webSocket: online.WebSocket, encoding: testEncoding, store: new IndexedDbStore("queue", { indexedDB: factory, locks: null }) });
    try {
      await second.restored();
      assert.equal(second.clientId, clientId);
      assert.deepEqual(second.collection("x").get("a"), { n: 5 });
      await second.start();
      await until("the replay", () => online.last.framesOf("mut").length === 2);
      const hello = online.last.framesOf("hello")[0]!;
      assert.equal(hello["clientId"], clientId);
      const ops = online.last.framesOf("mut").map((f) => (f["ops"] as { by: number }[])[0]!.by);
      assert.deepEqual(ops, [2, 3]);
    } finally {
      await second.dispose();
    }
  });
});
