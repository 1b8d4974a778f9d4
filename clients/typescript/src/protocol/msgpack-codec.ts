// The MessagePack encoding (docs/protocol.md §11): one binary message holding one MessagePack array,
// `[type number, {fields}]` (map form) or the fields at fixed places (positional form).
import { Decoder, DecodeError, Encoder } from "@msgpack/msgpack";
import type { JsonObject, JsonValue } from "../json.js";
import type { WriteOp } from "../write-op.js";
import { MalformedFrameError, Subprotocols, type FrameCodec, type FrameData } from "./codec.js";
import { fromFields, toFields } from "./fields.js";
import type { DecodedFrame, Frame } from "./frames.js";

/** Each frame type's number. */
const TypeNumbers = {
  hello: 1,
  welcome: 2,
  sub: 3,
  unsub: 4,
  mut: 5,
  call: 6,
  ping: 7,
  pong: 8,
  snapshot: 9,
  subscribed: 10,
  chg: 11,
  removed: 12,
  pos: 13,
  ack: 14,
  ok: 15,
  error: 16,
} as const satisfies Record<Frame["type"], number>;

const TypeNames = new Map<number, Frame["type"]>(Object.entries(TypeNumbers).map(([name, n]) => [n, name as Frame["type"]]));

/** An op's number in a `mut`. */
const OpNumbers = { put: 0, patch: 1, inc: 2, delete: 3 } as const satisfies Record<WriteOp["op"], number>;
const OpNames: readonly WriteOp["op"][] = ["put", "patch", "inc", "delete"];

/** A change's kind in a `chg`. */
const ChangeKinds = { delta: 0, entered: 1, deleted: 2 } as const;

/** Nesting is bounded as in JSON: 64 levels per frame. */
const MAX_DEPTH = 64;

type Absent = undefined | null;

// One of each, reused: making them per frame costs more than the frame. encode() returns a copy.
// Big integers go as bigint (see toWire); reads keep every int a number, as JSON.parse does.
const encoder = new Encoder({ useBigInt64: true });
const decoder = new Decoder({ mapKeyConverter: stringKey });
type Slot = JsonValue | Absent;

/** `lockstep.v1.msgpack`: binary frames, one MessagePack value each. */
export const MsgpackCodec: FrameCodec = {
  encoding: "msgpack",
  subprotocol: Subprotocols.msgpack,
  binary: true,
  encode(frame: Frame): Uint8Array {
    return encoder.encode(toWire(toArray(frame), 0));
  },
  decode(data: FrameData): DecodedFrame {
    if (typeof data === "string") {
      throw new MalformedFrameError("A MessagePack frame must be a binary message; a text message came.");
    }
    if (!startsWithInt(data)) {
      throw new MalformedFrameError("A MessagePack frame must be an array starting with its type number, an int.");
    }
    let value: unknown;
    try {
      value = decoder.decode(data);
    } catch (error) {
      throw new MalformedFrameError(`A MessagePack frame must be exactly one MessagePack value: ${(error as Error).message}`);
    }
    // The library reads invalid UTF-8 as U+FFFD; a str must be valid UTF-8 (docs/protocol.md §11), as the server holds.
    checkStrings(data);
    return fromArray(fromWire(value, 0));
  },
};

// ---- frames → arrays ----------------------------------------------------------------------

function toArray(frame: Frame): JsonValue[] {
  const n = TypeNumbers[frame.type];
  switch (frame.type) {
    case "mut":
      return positional(n, frame.id, frame.mid, frame.ops.map(opArray));
    case "snapshot":
      return positional(n, frame.id, frame.sub, frame.seq, frame.docs.map((d) => [d.id, d.version, d.doc]), frame.last, frame.reset === true ? true : undefined);
    case "chg": {
      const change = frame.change;
      const kind = ChangeKinds[change.kind];
      const body = change.kind === "delta" ? change.set : change.kind === "entered" ? change.doc : undefined;
      const unset = change.kind === "delta" && change.unset !== undefined ? [...change.unset] : undefined;
      return positional(n, frame.sub, frame.seq, frame.id, frame.version, kind, body, unset, frame.mid);
    }
    case "removed":
      return positional(n, frame.sub, frame.seq, frame.id, frame.version, frame.mid);
    case "pos":
      return positional(n, frame.seq);
    case "ack":
      return positional(n, frame.id, frame.seq, frame.results.map((r) => [r.collection, r.id, r.version]), frame.result, frame.duplicate === true ? true : undefined);
    default:
      return [n, toFields(frame)];
  }
}

function opArray(op: WriteOp): JsonValue[] {
  const head = [OpNumbers[op.op], op.collection, op.id, op.ifVersion] as const;
  switch (op.op) {
    case "put":
      return positional(...head, op.doc);
    case "patch":
      return positional(...head, op.set, op.unset === undefined ? undefined : [...op.unset]);
    case "inc":
      return positional(...head, op.path, op.by);
    case "delete":
      return positional(...head);
  }
}

/** A positional array: absent fields are nil, and trailing absent fields are left out. */
function positional(...slots: Slot[]): JsonValue[] {
  let end = slots.length;
  while (end > 0 && (slots[end - 1] === undefined || slots[end - 1] === null)) {
    end--;
  }
  return slots.slice(0, end).map((s) => s ?? null);
}

// ---- arrays → frames ----------------------------------------------------------------------

function fromArray(value: unknown): DecodedFrame {
  if (!Array.isArray(value) || value.length === 0 || typeof value[0] !== "number" || !Number.isInteger(value[0])) {
    throw new MalformedFrameError("A MessagePack frame must be an array starting with its type number.");
  }
  const a = value as unknown[];
  const n = a[0] as number;
  const type = TypeNames.get(n);
  if (type === undefined) {
    return { type: "unknown", wireType: n };
  }
  const at = (i: number): unknown => a[i] ?? undefined;
  switch (type) {
    case "mut":
      return fromFields(type, { id: at(1), mid: at(2), ops: mapArray(at(3), "ops", opFields) });
    case "snapshot":
      return fromFields(type, {
        id: at(1),
        sub: at(2),
        seq: at(3),
        docs: mapArray(at(4), "docs", (d) => ({ id: d[0], v: d[1], doc: d[2] })),
        last: at(5),
        reset: at(6),
      });
    case "chg":
      return fromFields(type, { sub: at(1), seq: at(2), id: at(3), v: at(4), mid: at(8), ...changeFields(at(5), at(6), at(7)) });
    case "removed":
      return fromFields(type, { sub: at(1), seq: at(2), id: at(3), v: at(4), mid: at(5) });
    case "pos":
      return fromFields(type, { seq: at(1) });
    case "ack":
      return fromFields(type, {
        id: at(1),
        seq: at(2),
        results: mapArray(at(3), "results", (r) => ({ collection: r[0], id: r[1], v: r[2] })),
        result: at(4),
        dup: at(5),
      });
    default: {
      const fields = at(1);
      if (typeof fields !== "object" || fields === null || Array.isArray(fields)) {
        throw new MalformedFrameError(`A MessagePack '${type}' frame must be [${n}, {fields}].`);
      }
      return fromFields(type, fields as Record<string, unknown>);
    }
  }
}

/** The elements of a positional field that holds arrays, each turned into fields; anything else is left for the field check to refuse. */
function mapArray(value: unknown, name: string, read: (element: readonly unknown[]) => Record<string, unknown>): unknown {
  if (!Array.isArray(value)) {
    return value;
  }
  return value.map((element: unknown) => {
    if (!Array.isArray(element)) {
      throw new MalformedFrameError(`Every element of '${name}' of a MessagePack frame must be an array.`);
    }
    return read(element as unknown[]);
  });
}

function opFields(op: readonly unknown[]): Record<string, unknown> {
  const name = typeof op[0] === "number" ? OpNames[op[0]] : undefined;
  if (name === undefined) {
    throw new MalformedFrameError("An op of a MessagePack 'mut' frame must start with its number: 0 put, 1 patch, 2 inc, 3 delete.");
  }
  const head = { op: name, collection: op[1], id: op[2], ifVersion: op[3] };
  switch (name) {
    case "put":
      return { ...head, doc: op[4] };
    case "patch":
      return { ...head, set: op[4], unset: op[5] };
    case "inc":
      return { ...head, path: op[4], by: op[5] };
    case "delete":
      return head;
  }
}

function changeFields(kind: unknown, body: unknown, unset: unknown): Record<string, unknown> {
  switch (kind) {
    case ChangeKinds.delta:
      return { set: body, unset };
    case ChangeKinds.entered:
      if (body === undefined || body === null) {
        throw new MalformedFrameError("A MessagePack 'chg' frame of kind 1 needs the document.");
      }
      return { doc: body };
    case ChangeKinds.deleted:
      return { del: true };
    default:
      throw new MalformedFrameError("The kind of a MessagePack 'chg' frame must be 0 (delta), 1 (entered) or 2 (deleted).");
  }
}

// ---- values -------------------------------------------------------------------------------

const INT32_MIN = -(2 ** 31);
const UINT32_LIMIT = 2 ** 32;
const INT64_MIN = -(2 ** 63);
const UINT64_LIMIT = 2 ** 64;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/**
 * A JSON value as @msgpack/msgpack is to write it: an integer beyond 32 bits that JSON would write
 * without an exponent (within −2⁶³ … 2⁶⁴−1) becomes a bigint, so it is written as an int 64 / uint 64
 * rather than a float; every other number is written in its smallest int form, or as a float 64.
 */
function toWire(value: unknown, depth: number): unknown {
  if (depth > MAX_DEPTH) {
    throw new MalformedFrameError(`A frame may nest at most ${MAX_DEPTH} levels.`);
  }
  switch (typeof value) {
    case "number":
      if (!Number.isFinite(value)) {
        throw new MalformedFrameError(`${value} is not a JSON number.`);
      }
      if (Number.isInteger(value) && (value < INT32_MIN || value >= UINT32_LIMIT) && value >= INT64_MIN && value < UINT64_LIMIT) {
        return BigInt(value);
      }
      return value;
    case "string":
      if (LONE_SURROGATE.test(value)) {
        throw new MalformedFrameError("A string holds a lone surrogate, which is not text (docs/protocol.md §1).");
      }
      return value;
    case "boolean":
      return value;
    case "undefined":
      return null;
    case "object": {
      if (value === null) {
        return null;
      }
      if (Array.isArray(value)) {
        return value.map((item: unknown) => toWire(item, depth + 1));
      }
      const out: Record<string, unknown> = {};
      for (const [key, item] of Object.entries(value)) {
        if (LONE_SURROGATE.test(key)) {
          throw new MalformedFrameError("A field name holds a lone surrogate, which is not text (docs/protocol.md §1).");
        }
        if (item !== undefined) {
          out[key] = toWire(item, depth + 1);
        }
      }
      return out;
    }
    default:
      throw new MalformedFrameError(`A ${typeof value} is not a JSON value.`);
  }
}

/** A decoded MessagePack value as the JSON value it spells; bin, ext, NaN and infinities are not JSON values. */
function fromWire(value: unknown, depth: number): JsonValue {
  if (depth > MAX_DEPTH) {
    throw new MalformedFrameError(`A frame may nest at most ${MAX_DEPTH} levels.`);
  }
  switch (typeof value) {
    case "number":
      if (!Number.isFinite(value)) {
        throw new MalformedFrameError("A MessagePack frame holds a float that is NaN or infinite.");
      }
      return value;
    case "string":
    case "boolean":
      return value;
    case "object":
      if (value === null) {
        return null;
      }
      if (Array.isArray(value)) {
        return value.map((item: unknown) => fromWire(item, depth + 1));
      }
      if (Object.getPrototypeOf(value) === Object.prototype) {
        const out: JsonObject = {};
        for (const [key, item] of Object.entries(value as Record<string, unknown>)) {
          out[key] = fromWire(item, depth + 1);
        }
        return out;
      }
      throw new MalformedFrameError(`A MessagePack frame holds ${value instanceof Uint8Array ? "bin" : "an ext"}, which is no JSON value.`);
    default:
      throw new MalformedFrameError(`A MessagePack frame holds a ${typeof value}, which is no JSON value.`);
  }
}

/** True when the bytes open an array whose first element is an int (a float of the same value would read as the same number). */
function startsWithInt(data: Uint8Array): boolean {
  const header = data[0];
  const at = header === undefined ? -1 : header >= 0x90 && header <= 0x9f ? 1 : header === 0xdc ? 3 : header === 0xdd ? 5 : -1;
  const first = at < 0 ? undefined : data[at];
  return first !== undefined && (first <= 0x7f || first >= 0xe0 || (first >= 0xcc && first <= 0xd3));
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Throws unless every str in a well-formed MessagePack value (decode has accepted its structure) is valid UTF-8.
 * Walks the bytes: a count of values still to skip, each header giving its length or its children's count.
 */
function checkStrings(data: Uint8Array): void {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  let at = 0;
  let pending = 1;
  while (pending > 0 && at < data.length) {
    pending--;
    const h = data[at++]!;
    let strLength = -1;
    if (h <= 0x7f || h >= 0xe0 || (h >= 0xc0 && h <= 0xc3)) {
      continue; // fixint, nil, bool
    } else if (h <= 0x8f) {
      pending += 2 * (h & 0x0f);
    } else if (h <= 0x9f) {
      pending += h & 0x0f;
    } else if (h <= 0xbf) {
      strLength = h & 0x1f;
    } else if (h === 0xd9) {
      strLength = data[at++]!;
    } else if (h === 0xda) {
      strLength = view.getUint16(at);
      at += 2;
    } else if (h === 0xdb) {
      strLength = view.getUint32(at);
      at += 4;
    } else if (h === 0xdc) {
      pending += view.getUint16(at);
      at += 2;
    } else if (h === 0xdd) {
      pending += view.getUint32(at);
      at += 4;
    } else if (h === 0xde) {
      pending += 2 * view.getUint16(at);
      at += 2;
    } else if (h === 0xdf) {
      pending += 2 * view.getUint32(at);
      at += 4;
    } else {
      at += fixedLength(h, data, view, at);
    }
    if (strLength >= 0) {
      const end = at + strLength;
      for (let i = at; i < end; i++) {
        if (data[i]! >= 0x80) {
          try {
            strictUtf8.decode(data.subarray(at, end));
          } catch {
            throw new MalformedFrameError("A MessagePack frame holds a str that is not valid UTF-8.");
          }
          break;
        }
      }
      at = end;
    }
  }
}

/** The bytes after the header of a value with no children: numbers, bin and ext (bin and ext are refused later, but skipped here). */
function fixedLength(h: number, data: Uint8Array, view: DataView, at: number): number {
  switch (h) {
    case 0xc4: return 1 + data[at]!;
    case 0xc5: return 2 + view.getUint16(at);
    case 0xc6: return 4 + view.getUint32(at);
    case 0xc7: return 2 + data[at]!;
    case 0xc8: return 3 + view.getUint16(at);
    case 0xc9: return 5 + view.getUint32(at);
    case 0xca: case 0xce: case 0xd2: return 4;
    case 0xcb: case 0xcf: case 0xd3: return 8;
    case 0xcc: case 0xd0: return 1;
    case 0xcd: case 0xd1: return 2;
    case 0xd4: return 2;
    case 0xd5: return 3;
    case 0xd6: return 5;
    case 0xd7: return 9;
    case 0xd8: return 17;
    default: return 0; // 0xc1 is never used; decode has already refused it
  }
}

function stringKey(key: unknown): string {
  if (typeof key !== "string") {
    throw new DecodeError(`A map key must be a string, not a ${typeof key}.`);
  }
  return key;
}
