// The encoding on the wire (docs/protocol.md §11): the real server answers the subprotocol the
// client offers and speaks it, in the run's encoding (LOCKSTEP_ENCODING); a server that answers
// another subprotocol is refused by the client with a clear error.
import assert from "node:assert/strict";
import type { AddressInfo } from "node:net";
import { after, before, test } from "node:test";
import { WebSocket, WebSocketServer } from "ws";
import { LockstepClient } from "../../src/index.js";
import { Subprotocols, type FrameCodec } from "../../src/protocol/codec.js";
import type { DecodedFrame } from "../../src/protocol/frames.js";
import { JsonCodec } from "../../src/protocol/json-codec.js";
import { MsgpackCodec } from "../../src/protocol/msgpack-codec.js";
import { LockstepServer, testEncoding, waitFor } from "./harness.js";

const codec: FrameCodec = testEncoding === "msgpack" ? MsgpackCodec : JsonCodec;
let server: LockstepServer;

before(async () => {
  server = await LockstepServer.start();
});

after(async () => {
  await server.dispose();
});

/** A raw socket speaking the run's encoding: what it received, decoded, and whether each came as binary. */
async function rawSocket(): Promise<{ socket: WebSocket; frames: DecodedFrame[]; binary: boolean[] }> {
  const socket = new WebSocket(server.wsUrl, [codec.subprotocol]);
  const frames: DecodedFrame[] = [];
  const binary: boolean[] = [];
  socket.on("message", (data: Buffer, isBinary: boolean) => {
    binary.push(isBinary);
    frames.push(codec.decode(isBinary ? new Uint8Array(data) : data.toString("utf8")));
  });
  await new Promise<void>((resolve, reject) => {
    socket.once("open", () => resolve());
    socket.once("error", reject);
  });
  return { socket, frames, binary };
}

test(`(${testEncoding}) the server answers the offered subprotocol and speaks the encoding both ways`, async () => {
  const { socket, frames, binary } = await rawSocket();
  try {
    assert.equal(socket.protocol, Subprotocols[testEncoding]);
    socket.send(codec.encode({ type: "hello", id: 1, clientId: `c-enc-${process.pid}`, protocol: 1 }));
    await waitFor("the welcome", () => frames.length >= 1);
    const welcome = frames[0]!;
    assert.equal(welcome.type, "welcome");
    assert.equal(welcome.type === "welcome" && welcome.id, 1);
    const collection = `enc-${testEncoding}-${process.pid}`;
    await server.put(collection, "d1", { n: 1, big: 2 ** 40, x: 1.5, s: "é" });
    socket.send(codec.encode({ type: "sub", id: "s:q", sub: "q", collection, filter: null }));
    await waitFor("the snapshot", () => frames.some((f) => f.type === "snapshot"));
    const snapshot = frames.find((f) => f.type === "snapshot");
    assert.deepEqual(snapshot?.type === "snapshot" ? snapshot.docs : undefined, [{ id: "d1", version: 1, doc: { n: 1, big: 2 ** 40, x: 1.5, s: "é" } }]);
    socket.send(codec.encode({ type: "mut", id: "m1", ops: [{ op: "patch", collection, id: "d1", set: { n: 2 } }] }));
    await waitFor("the ack and the change", () => frames.some((f) => f.type === "ack") && frames.some((f) => f.type === "chg"));
    const change = frames.find((f) => f.type === "chg");
    assert.deepEqual(change?.type === "chg" ? change.change : undefined, { kind: "delta", set: { n: 2 } });
    assert.ok(binary.every((b) => b === codec.binary), `every frame came as ${codec.binary ? "binary" : "text"}`);
  } finally {
    socket.terminate();
  }
});

test(`(${testEncoding}) the client connects in its encoding`, async () => {
  const lines: string[] = [];
  const client = new LockstepClient({ urls: [server.wsUrl], webSocket: WebSocket, encoding: testEncoding, logger: { info: (message: string) => lines.push(message) } });
  try {
    await client.start();
    assert.ok(lines.some((l) => l.includes(`(${testEncoding}, head`)), lines.join("\n"));
  } finally {
    await client.dispose();
  }
});

test("a MessagePack client does not talk to a server that answers no subprotocol, and says why", async () => {
  // A stand-in for a server of before the encodings: it accepts the upgrade and chooses no subprotocol.
  const old = new WebSocketServer({ host: "127.0.0.1", port: 0, handleProtocols: () => false });
  await new Promise<void>((resolve) => old.once("listening", () => resolve()));
  const received: unknown[] = [];
  old.on("connection", (socket) => socket.on("message", (data) => received.push(data)));
  const lines: string[] = [];
  const client = new LockstepClient({
    urls: [`ws://127.0.0.1:${(old.address() as AddressInfo).port}/v1/sync`],
    webSocket: WebSocket,
    encoding: "msgpack",
    reconnectBaseDelayMs: 20,
    reconnectMaxDelayMs: 50,
    logger: { info: (message: string) => lines.push(message) },
  });
  try {
    void client.start().catch(() => undefined);
    await waitFor("a refused attempt", () => lines.some((l) => l.includes("connection attempt")), 5_000);
    const refusal = lines.find((l) => l.includes("connection attempt"))!;
    // ws refuses a handshake whose answer lacks the offered subprotocol itself; a browser does too.
    assert.match(refusal, /subprotocol/i);
    assert.equal(client.state === "online", false);
    assert.deepEqual(received, [], "no hello went to a server that does not speak MessagePack");
  } finally {
    await client.dispose();
    for (const socket of old.clients) {
      socket.terminate();
    }
    await new Promise<void>((resolve) => old.close(() => resolve()));
  }
});
