// The two codecs (docs/protocol.md §2, §11): the golden frames shared with the server
// (tests/fixtures/frames.json), round trips of every frame type, MessagePack's layouts and value
// mapping byte by byte, and malformed input refused with a MalformedFrameError.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { MalformedFrameError, type FrameCodec } from "../../src/protocol/codec.js";
import type { DecodedFrame, Frame } from "../../src/protocol/frames.js";
import { JsonCodec, writeFromStored, writeToStored } from "../../src/protocol/json-codec.js";
import { MsgpackCodec } from "../../src/protocol/msgpack-codec.js";

const here = path.dirname(fileURLToPath(import.meta.url));
/** The repository root, from clients/typescript/.test-build/test/unit. */
const fixturePath = path.resolve(here, "../../../../../tests/fixtures/frames.json");

interface GoldenFrame {
  readonly name: string;
  readonly from: "client" | "server";
  readonly json: string;
  readonly msgpack: string;
}

const golden = JSON.parse(readFileSync(fixturePath, "utf8")) as GoldenFrame[];

function hex(bytes: Uint8Array | string): string {
  assert.ok(bytes instanceof Uint8Array, "MessagePack encodes to bytes");
  return Buffer.from(bytes).toString("hex");
}

function bytes(hexText: string): Uint8Array {
  return new Uint8Array(Buffer.from(hexText.replace(/\s+/g, ""), "hex"));
}

const codecs: readonly FrameCodec[] = [JsonCodec, MsgpackCodec];

describe("golden frames (tests/fixtures/frames.json)", () => {
  test("the fixture holds frames of both directions", () => {
    assert.ok(golden.some((g) => g.from === "client") && golden.some((g) => g.from === "server"));
    assert.ok(golden.length >= 20);
  });

  for (const entry of golden) {
    test(`${entry.name}: the JSON and the MessagePack spelling are the same frame`, () => {
      const fromJson = JsonCodec.decode(entry.json);
      const fromMsgpack = MsgpackCodec.decode(bytes(entry.msgpack));
      assert.notEqual(fromJson.type, "unknown");
      assert.deepEqual(fromMsgpack, fromJson);
    });

    // JavaScript numbers are doubles: a JSON text holding an integer a double cannot hold exactly
    // (18446744073709551615) reads as another number (2^64), whose spelling is not the fixture's.
    const representable = JSON.stringify(JSON.parse(entry.json)) === entry.json;
    test(`${entry.name}: both encoders write exactly the fixture's text and bytes${representable ? "" : " (not representable in JavaScript numbers: decoded only)"}`, () => {
      const frame = JsonCodec.decode(entry.json) as Frame;
      if (!representable) {
        assert.equal(entry.name, "mut-no-mid", "only the entry with uint64 max is out of reach of doubles");
        return;
      }
      assert.equal(JsonCodec.encode(frame), entry.json);
      assert.equal(hex(MsgpackCodec.encode(frame)), entry.msgpack);
    });
  }
});

/** At least one frame of every type, and the variants of the positional ones. */
const samples: Frame[] = [
  { type: "hello", id: "h", clientId: "c-1", cursor: 4, subs: [{ sub: "q", collection: "tasks", filter: { status: "open" } }, { sub: "all", collection: "tasks", filter: null }], token: "lsk_x", protocol: 1 },
  { type: "hello", id: 1 },
  { type: "sub", id: "s:q", sub: "q", collection: "tasks", filter: { n: { $gte: 2 } } },
  { type: "sub", id: 2, sub: "all", collection: "tasks", filter: null },
  { type: "unsub", id: "u1", sub: "q" },
  {
    type: "mut",
    id: "m7",
    mid: 7,
    ops: [
      { op: "put", collection: "tasks", id: "t1", doc: { title: "x", nested: { a: [1, 2.5, null, true] } } },
      { op: "put", collection: "tasks", id: "t1", doc: {}, ifVersion: 0 },
      { op: "patch", collection: "tasks", id: "t2", set: { "a.b": 1 }, unset: ["c"], ifVersion: 3 },
      { op: "patch", collection: "tasks", id: "t2", set: { a: "é" } },
      { op: "patch", collection: "tasks", id: "t2", unset: ["a"] },
      { op: "inc", collection: "stock", id: "s1", path: "count", by: -1 },
      { op: "inc", collection: "stock", id: "s1", path: "count", by: 0.25, ifVersion: 9 },
      { op: "delete", collection: "tasks", id: "t3" },
      { op: "delete", collection: "tasks", id: "t3", ifVersion: 12 },
    ],
  },
  { type: "mut", id: 5, ops: [{ op: "delete", collection: "c", id: "d" }] },
  { type: "call", id: "m8", mid: 8, name: "reserve", args: { sku: "a", qty: 2 } },
  { type: "call", id: 3, name: "noArgs" },
  { type: "ping", id: "p1" },
  { type: "welcome", id: "h", session: "s-1", head: 10, horizon: 0, cursor: 10, resumable: false, heartbeatMs: 15000, idleTimeoutMs: 45000, maxFrameBytes: 1048576, protocol: 1 },
  { type: "welcome", id: "h", session: "s-1", head: 10, horizon: 2, cursor: 10, heartbeatMs: 50, idleTimeoutMs: 150, maxFrameBytes: 1024, protocol: 1 },
  { type: "pong", id: "p1", head: 12 },
  { type: "subscribed", id: "h", sub: "q", seq: 4 },
  { type: "ok", id: "u1" },
  { type: "error", id: "m7", code: "version_conflict", message: "stale", op: 2, current: { collection: "tasks", id: "t2", v: 4, doc: { a: 1 } } },
  { type: "error", id: 6, code: "mutation_rejected", message: "Only 1 left.", reason: "out_of_stock", duplicate: true },
  { type: "error", code: "token_expired", message: "The token expired." },
  { type: "snapshot", id: "s:q", sub: "q", seq: 9, docs: [{ id: "a", version: 1, doc: { x: 1 } }, { id: "b", version: 300, doc: {} }], last: false },
  { type: "snapshot", sub: "q", seq: 9, docs: [], last: true, reset: true },
  { type: "chg", sub: "q", seq: 11, id: "a", version: 2, change: { kind: "delta", set: { x: 2, "y.z": "w" }, unset: ["old"] } },
  { type: "chg", sub: "q", seq: 12, id: "a", version: 3, change: { kind: "delta", set: {} }, mid: 7 },
  { type: "chg", sub: "q", seq: 13, id: "c", version: 1, change: { kind: "entered", doc: { n: 1 } } },
  { type: "chg", sub: "q", seq: 14, id: "c", version: 2, change: { kind: "deleted" } },
  { type: "chg", sub: "q", seq: 15, id: "c", version: 3, change: { kind: "deleted" }, mid: 9 },
  { type: "removed", sub: "q", seq: 16, id: "a", version: 4 },
  { type: "removed", sub: "q", seq: 17, id: "a", version: 5, mid: 10 },
  { type: "pos", seq: 4_000_000_000 },
  { type: "ack", id: "m7", seq: 20, results: [{ collection: "tasks", id: "t1", version: 1 }] },
  { type: "ack", id: "m8", seq: 21, results: [], result: { reserved: 2 }, duplicate: true },
  { type: "ack", id: 4, seq: 22, results: [], result: "text" },
];

describe("round trips", () => {
  test("the samples hold every frame type", () => {
    const types = new Set(samples.map((f) => f.type));
    for (const type of ["hello", "sub", "unsub", "mut", "call", "ping", "welcome", "pong", "subscribed", "ok", "error", "snapshot", "chg", "removed", "pos", "ack"]) {
      assert.ok(types.has(type as Frame["type"]), type);
    }
  });

  for (const codec of codecs) {
    test(`${codec.encoding}: every frame reads back as it was written`, () => {
      for (const frame of samples) {
        const data = codec.encode(frame);
        assert.equal(typeof data === "string", !codec.binary, `${frame.type}: ${codec.binary ? "bytes" : "text"}`);
        assert.deepEqual(codec.decode(data), frame, `${frame.type} ${JSON.stringify(frame)}`);
      }
    });
  }

  test("both encodings read every sample as the same frame", () => {
    for (const frame of samples) {
      assert.deepEqual(MsgpackCodec.decode(MsgpackCodec.encode(frame)), JsonCodec.decode(JsonCodec.encode(frame)));
    }
  });

  test("a queued write survives the store as the JSON frame it has always been", () => {
    const write = { type: "mut" as const, mid: 3, ops: [{ op: "inc" as const, collection: "c", id: "d", path: "n", by: 2 }] };
    const stored = writeToStored(write);
    assert.deepEqual(stored, { t: "mut", mid: 3, ops: [{ op: "inc", collection: "c", id: "d", path: "n", by: 2 }] });
    assert.deepEqual(writeFromStored(stored), write);
    // What an older client stored (mid after ops) reads the same.
    assert.deepEqual(writeFromStored({ t: "mut", ops: stored["ops"]!, mid: 3 }), write);
    assert.equal(writeFromStored({ t: "mut", ops: [{ op: "teleport", collection: "c", id: "d" }], mid: 1 }), undefined);
    assert.equal(writeFromStored({ t: "ping" }), undefined);
  });
});

describe("MessagePack layouts, byte by byte", () => {
  const cases: { name: string; frame: Frame; hex: string }[] = [
    { name: "pos", frame: { type: "pos", seq: 1290 }, hex: "92 0d cd050a" },
    // [11, "b", 1, "d", 2, 0, {}, nil, 5]: the unset slot is nil because mid follows it.
    { name: "chg: an empty delta of an own change", frame: { type: "chg", sub: "b", seq: 1, id: "d", version: 2, change: { kind: "delta", set: {} }, mid: 5 }, hex: "99 0b a162 01 a164 02 00 80 c0 05" },
    // [11, "b", 1, "d", 2, 0, {"n": 1}]: trailing unset and mid left out.
    { name: "chg: a delta, nothing trailing", frame: { type: "chg", sub: "b", seq: 1, id: "d", version: 2, change: { kind: "delta", set: { n: 1 } } }, hex: "97 0b a162 01 a164 02 00 81a16e01" },
    // [11, "b", 1, "d", 2, 2]: a delete has no body.
    { name: "chg: a delete", frame: { type: "chg", sub: "b", seq: 1, id: "d", version: 2, change: { kind: "deleted" } }, hex: "96 0b a162 01 a164 02 02" },
    { name: "chg: entered", frame: { type: "chg", sub: "b", seq: 1, id: "d", version: 1, change: { kind: "entered", doc: { a: true } } }, hex: "97 0b a162 01 a164 01 01 81a161c3" },
    { name: "removed", frame: { type: "removed", sub: "b", seq: 300, id: "d", version: 9 }, hex: "95 0c a162 cd012c a164 09" },
    // [9, nil, "s", 3, [], true]: no id (the server's own), reset left out.
    { name: "snapshot", frame: { type: "snapshot", sub: "s", seq: 3, docs: [], last: true }, hex: "96 09 c0 a173 03 90 c3" },
    { name: "snapshot with a doc", frame: { type: "snapshot", id: 2, sub: "s", seq: 3, docs: [{ id: "a", version: 1, doc: {} }], last: false }, hex: "96 09 02 a173 03 91 93a161 01 80 c2" },
    // [14, "m1", 5, [], nil, true]: result nil when none, because dup follows.
    { name: "ack: a duplicate without a result", frame: { type: "ack", id: "m1", seq: 5, results: [], duplicate: true }, hex: "96 0e a26d31 05 90 c0 c3" },
    { name: "ack", frame: { type: "ack", id: "m1", seq: 5, results: [{ collection: "c", id: "d", version: 2 }] }, hex: "94 0e a26d31 05 91 93a163a16402" },
    // [5, "m1", nil, [[3, "c", "d"]]]: no mid; a delete without ifVersion is three elements.
    { name: "mut without mid", frame: { type: "mut", id: "m1", ops: [{ op: "delete", collection: "c", id: "d" }] }, hex: "94 05 a26d31 c0 91 9303a163a164" },
    // patch with unset only: [1, "c", "d", nil, nil, ["x"]].
    { name: "mut: a patch that only unsets", frame: { type: "mut", id: 1, mid: 2, ops: [{ op: "patch", collection: "c", id: "d", unset: ["x"] }] }, hex: "94 05 01 02 91 9601a163a164c0c091a178" },
    { name: "mut: put with ifVersion 0", frame: { type: "mut", id: 1, mid: 2, ops: [{ op: "put", collection: "c", id: "d", doc: {}, ifVersion: 0 }] }, hex: "94 05 01 02 91 9500a163a1640080" },
    { name: "ping (map form)", frame: { type: "ping", id: 7 }, hex: "92 07 81a26964 07" },
  ];
  for (const c of cases) {
    test(c.name, () => {
      assert.equal(hex(MsgpackCodec.encode(c.frame)), c.hex.replace(/\s+/g, ""));
      assert.deepEqual(MsgpackCodec.decode(bytes(c.hex)), c.frame);
    });
  }

  test("a reader treats missing trailing elements as nil and ignores elements past the layout", () => {
    // [13, 5, "later"] and [12, "b", 1, "d", 2, nil, "later"]
    assert.deepEqual(MsgpackCodec.decode(bytes("93 0d 05 a56c61746572")), { type: "pos", seq: 5 });
    assert.deepEqual(MsgpackCodec.decode(bytes("97 0c a162 01 a164 02 c0 a56c61746572")), { type: "removed", sub: "b", seq: 1, id: "d", version: 2 });
  });

  test("an unknown type number is a frame of an unknown type, not an error", () => {
    assert.deepEqual(MsgpackCodec.decode(bytes("92 3f 80")), { type: "unknown", wireType: 63 });
    assert.deepEqual(JsonCodec.decode('{"t":"later","x":1}'), { type: "unknown", wireType: "later" });
  });
});

describe("MessagePack values", () => {
  /** The bytes of a number, as the id of a ping: [7, {"id": n}]. */
  function numberHex(n: number): string {
    const all = hex(MsgpackCodec.encode({ type: "ping", id: n }));
    assert.ok(all.startsWith("920781a26964"));
    return all.slice("920781a26964".length);
  }

  test("an integer is written in its smallest int form", () => {
    const expected: [number, string][] = [
      [0, "00"],
      [-0, "00"],
      [127, "7f"],
      [128, "cc80"],
      [255, "ccff"],
      [256, "cd0100"],
      [65535, "cdffff"],
      [65536, "ce00010000"],
      [2 ** 32 - 1, "ceffffffff"],
      [2 ** 32, "cf0000000100000000"],
      [2 ** 53 + 2, "cf0020000000000002"],
      [2 ** 63, "cf8000000000000000"],
      [-1, "ff"],
      [-32, "e0"],
      [-33, "d0df"],
      [-128, "d080"],
      [-129, "d1ff7f"],
      [-32768, "d18000"],
      [-32769, "d2ffff7fff"],
      [-(2 ** 31), "d280000000"],
      [-(2 ** 31) - 1, "d3ffffffff7fffffff"],
      [-(2 ** 63), "d38000000000000000"],
    ];
    for (const [n, bytesHex] of expected) {
      assert.equal(numberHex(n), bytesHex, String(n));
    }
  });

  test("any other number is a float 64", () => {
    assert.equal(numberHex(1.5), "cb3ff8000000000000");
    assert.equal(numberHex(-0.1), "cbbfb999999999999a");
    // Beyond uint64: JSON writes it without an exponent, but no int holds it.
    assert.equal(numberHex(2 ** 64), "cb43f0000000000000");
    assert.equal(numberHex(1e300), "cb7e37e43c8800759c");
  });

  test("a reader takes every int form and float 32/64 as a number", () => {
    const forms: [string, number][] = [
      ["05", 5],
      ["cc05", 5],
      ["cd0005", 5],
      ["ce00000005", 5],
      ["cf0000000000000005", 5],
      ["fb", -5],
      ["d0fb", -5],
      ["d1fffb", -5],
      ["d2fffffffb", -5],
      ["d3fffffffffffffffb", -5],
      ["ca3fc00000", 1.5],
      ["cb3ff8000000000000", 1.5],
    ];
    for (const [form, n] of forms) {
      assert.deepEqual(MsgpackCodec.decode(bytes(`92 0d ${form}`)), { type: "pos", seq: n }, form);
    }
  });

  test("objects are maps with str keys, in order; strings are UTF-8", () => {
    const frame: Frame = { type: "mut", id: 1, ops: [{ op: "put", collection: "c", id: "d", doc: { b: 1, a: "é😀" } }] };
    assert.equal(hex(MsgpackCodec.encode(frame)), "940501c0919500a163a164c082a16201a161a6c3a9f09f9880");
  });

  test("a lone surrogate cannot be spelt in MessagePack: the encoder refuses it", () => {
    assert.throws(() => MsgpackCodec.encode({ type: "mut", id: 1, ops: [{ op: "put", collection: "c", id: "d", doc: { a: "\ud800" } }] }), MalformedFrameError);
    assert.throws(() => MsgpackCodec.encode({ type: "mut", id: 1, ops: [{ op: "put", collection: "c", id: "d", doc: { ["\udc00"]: 1 } }] }), MalformedFrameError);
  });
});

describe("malformed input", () => {
  const malformedMsgpack: [string, string][] = [
    ["nothing", ""],
    ["a truncated value", "92 0d cd05"],
    ["trailing bytes after the value", "92 0d 05 c0"],
    ["not an array", "81 a174 0d"],
    ["an empty array", "90"],
    ["an array not starting with an int", "92 a3706f73 05"],
    ["a float type number", "92 cb4020000000000000 05"],
    ["a map key that is not a str", "92 07 81 01 07"],
    ["bin", "92 0d c40100"],
    ["ext", "92 0d d40100"],
    ["a timestamp", "92 0d d6ff00000000"],
    ["NaN", "92 0d cb7ff8000000000000"],
    ["infinity (float 32)", "92 0d ca7f800000"],
    ["a missing required field", "91 0d"],
    ["a field of the wrong type", "92 0d a135"],
    ["a map-form frame without its map", "92 07 05"],
    ["an unknown change kind", "97 0b a162 01 a164 02 07 80"],
    ["an entered change without its document", "96 0b a162 01 a164 02 01"],
    ["an op that is not an array", "94 05 01 c0 91 05"],
    ["an unknown op number", "94 05 01 c0 91 9309a163a164"],
    ["a put without its document", "94 05 01 c0 91 9400a163a164c0"],
    ["a snapshot document that is not an array", "96 09 c0 a173 03 91 05 c3"],
  ];
  for (const [what, bytesHex] of malformedMsgpack) {
    test(`MessagePack: ${what} is a MalformedFrameError`, () => {
      assert.throws(() => MsgpackCodec.decode(bytes(bytesHex)), MalformedFrameError);
    });
  }

  // Each is a sound frame but for one str's bytes: the library alone would read them as U+FFFD.
  const notUtf8: [string, string][] = [
    ["a str", "95 0c a2c328 01 a164 02"],
    ["a map key", "92 3f 81 a2ff41 01"],
    ["an overlong str 16 inside a document", "94 05 01 c0 91 9500a163a164c081a161da0002c0af"],
  ];
  for (const [what, bytesHex] of notUtf8) {
    test(`MessagePack: ${what} that is not valid UTF-8 is a MalformedFrameError`, () => {
      assert.throws(() => MsgpackCodec.decode(bytes(bytesHex)), (e: unknown) => e instanceof MalformedFrameError && /UTF-8/.test(e.message));
    });
  }

  test("MessagePack: valid UTF-8 of every length class reads as itself", () => {
    assert.deepEqual(MsgpackCodec.decode(bytes("95 0c a2c3a9 01 a4f09f9880 02")), { type: "removed", sub: "é", seq: 1, id: "😀", version: 2 });
  });

  test("MessagePack: a text message is a MalformedFrameError", () => {
    assert.throws(() => MsgpackCodec.decode('{"t":"pos","seq":1}'), /binary message/);
  });

  test("MessagePack: nesting past 64 levels is refused, however deep, without a crash", () => {
    for (const depth of [70, 100_000]) {
      const deep = new Uint8Array(3 + depth);
      deep.set([0x92, 0x0d], 0);
      deep.fill(0x91, 2, 2 + depth);
      deep[2 + depth] = 0x01;
      assert.throws(() => MsgpackCodec.decode(deep), MalformedFrameError);
    }
  });

  const malformedJson: [string, string][] = [
    ["not JSON", "{"],
    ["an array", "[1]"],
    ["no t", '{"seq":1}'],
    ["a t that is not a string", '{"t":13,"seq":1}'],
    ["a missing required field", '{"t":"pos"}'],
    ["a field of the wrong type", '{"t":"chg","sub":"q","seq":"1","id":"a","v":1,"set":{}}'],
    ["an unset that is not paths", '{"t":"chg","sub":"q","seq":1,"id":"a","v":1,"set":{},"unset":[1]}'],
    ["a snapshot document that is not an object", '{"t":"snapshot","sub":"q","seq":1,"docs":[1],"last":true}'],
    ["an ack result without its version", '{"t":"ack","id":"m1","seq":1,"results":[{"collection":"c","id":"d"}]}'],
    ["an op without its fields", '{"t":"mut","id":1,"ops":[{"op":"inc","collection":"c","id":"d","path":"n"}]}'],
  ];
  for (const [what, text] of malformedJson) {
    test(`JSON: ${what} is a MalformedFrameError`, () => {
      assert.throws(() => JsonCodec.decode(text), MalformedFrameError);
    });
  }

  test("JSON: bytes that are not UTF-8 are a MalformedFrameError", () => {
    assert.throws(() => JsonCodec.decode(new Uint8Array([0x7b, 0xff, 0x7d])), MalformedFrameError);
  });

  test("null counts as an absent optional field, in both encodings", () => {
    const expected: DecodedFrame = { type: "hello", id: 1, clientId: "c" };
    assert.deepEqual(JsonCodec.decode('{"t":"hello","id":1,"clientId":"c","token":null,"cursor":null}'), expected);
    // [1, {"id": 1, "clientId": "c", "token": nil}]
    assert.deepEqual(MsgpackCodec.decode(bytes("92 01 83 a26964 01 a8636c69656e744964 a163 a5746f6b656e c0")), expected);
  });
});
