// A frame's fields under their wire names (docs/protocol.md §3–§7): what a JSON frame holds besides
// `t`, and what a MessagePack map-form frame's map holds (§11). Both codecs build on this.
import type { Filter } from "../filter.js";
import { isJsonObject, type JsonObject, type JsonValue } from "../json.js";
import type { WriteOp } from "../write-op.js";
import { MalformedFrameError } from "./codec.js";
import type { AckResult, ChangeBody, DecodedFrame, Frame, RequestId, SnapshotDoc, SubscriptionSpec, WriteRequest } from "./frames.js";

/** The fields of a frame, in the order they are written. */
export function toFields(frame: Frame): JsonObject {
  switch (frame.type) {
    case "hello":
      return compact({
        id: frame.id,
        clientId: frame.clientId,
        cursor: frame.cursor,
        subs: frame.subs?.map(specFields),
        token: frame.token,
        protocol: frame.protocol,
      });
    case "sub":
      return { id: frame.id, ...specFields(frame) };
    case "unsub":
      return { id: frame.id, sub: frame.sub };
    case "mut":
    case "call":
      return { id: frame.id, ...writeFields(frame) };
    case "ping":
      return { id: frame.id };
    case "welcome":
      return compact({
        id: frame.id,
        session: frame.session,
        head: frame.head,
        horizon: frame.horizon,
        cursor: frame.cursor,
        resumable: frame.resumable,
        heartbeatMs: frame.heartbeatMs,
        idleTimeoutMs: frame.idleTimeoutMs,
        maxFrameBytes: frame.maxFrameBytes,
        protocol: frame.protocol,
      });
    case "pong":
      return { id: frame.id, head: frame.head };
    case "subscribed":
      return { id: frame.id, sub: frame.sub, seq: frame.seq };
    case "ok":
      return { id: frame.id };
    case "error":
      return compact({
        id: frame.id,
        code: frame.code,
        message: frame.message,
        op: frame.op,
        current: frame.current,
        reason: frame.reason,
        dup: frame.duplicate === true ? true : undefined,
      });
    case "snapshot":
      return compact({
        id: frame.id,
        sub: frame.sub,
        seq: frame.seq,
        reset: frame.reset === true ? true : undefined,
        docs: frame.docs.map((d) => ({ id: d.id, v: d.version, doc: d.doc })),
        last: frame.last,
      });
    case "chg":
      return compact({ sub: frame.sub, seq: frame.seq, id: frame.id, v: frame.version, mid: frame.mid, ...changeFields(frame.change) });
    case "removed":
      return compact({ sub: frame.sub, seq: frame.seq, id: frame.id, v: frame.version, mid: frame.mid });
    case "pos":
      return { seq: frame.seq };
    case "ack":
      return compact({
        id: frame.id,
        seq: frame.seq,
        results: frame.results.map((r) => ({ collection: r.collection, id: r.id, v: r.version })),
        result: frame.result,
        dup: frame.duplicate === true ? true : undefined,
      });
  }
}

/** The frame of type `type` (a wire name) with these fields; an {@link UnknownFrame} for a name this client does not know. */
export function fromFields(type: string, values: Readonly<Record<string, unknown>>): DecodedFrame {
  const f = new FieldReader(type, values);
  switch (type) {
    case "hello":
      return compact({
        type,
        id: f.id(),
        clientId: f.optString("clientId"),
        protocol: f.optNumber("protocol"),
        token: f.optString("token"),
        cursor: f.optNumber("cursor"),
        subs: f.optArray("subs")?.map((s, i) => readSpec(new FieldReader(`${type}.subs[${i}]`, f.objectAt("subs", s)))),
      });
    case "sub":
      return { type, id: f.id(), ...readSpec(f) };
    case "unsub":
      return { type, id: f.id(), sub: f.string("sub") };
    case "mut":
    case "call":
      return { ...readWrite(type, f), id: f.id() };
    case "ping":
      return { type, id: f.id() };
    case "welcome":
      return compact({
        type,
        id: f.id(),
        session: f.optString("session") ?? "",
        head: f.number("head"),
        horizon: f.optNumber("horizon") ?? 0,
        cursor: f.optNumber("cursor") ?? f.number("head"),
        resumable: f.optBoolean("resumable"),
        heartbeatMs: f.optNumber("heartbeatMs") ?? 15_000,
        idleTimeoutMs: f.optNumber("idleTimeoutMs") ?? 45_000,
        maxFrameBytes: f.optNumber("maxFrameBytes") ?? 0,
        protocol: f.optNumber("protocol") ?? 1,
      });
    case "pong":
      return { type, id: f.id(), head: f.optNumber("head") ?? 0 };
    case "subscribed":
      return { type, id: f.id(), sub: f.string("sub"), seq: f.number("seq") };
    case "ok":
      return { type, id: f.id() };
    case "error":
      return compact({
        type,
        id: f.optId(),
        code: f.optString("code") ?? "internal_error",
        message: f.optString("message") ?? f.optString("code") ?? "internal_error",
        reason: f.optString("reason"),
        op: f.optNumber("op"),
        current: f.optObject("current"),
        duplicate: f.optBoolean("dup"),
      });
    case "snapshot":
      return compact({
        type,
        id: f.optId(),
        sub: f.string("sub"),
        seq: f.number("seq"),
        docs: f.array("docs").map((d, i): SnapshotDoc => {
          const doc = new FieldReader(`${type}.docs[${i}]`, f.objectAt("docs", d));
          return { id: doc.string("id"), version: doc.number("v"), doc: doc.object("doc") };
        }),
        last: f.optBoolean("last") ?? false,
        reset: f.optBoolean("reset"),
      });
    case "chg":
      return compact({ type, sub: f.string("sub"), seq: f.number("seq"), id: f.string("id"), version: f.number("v"), change: readChange(f), mid: f.optNumber("mid") });
    case "removed":
      return compact({ type, sub: f.string("sub"), seq: f.number("seq"), id: f.string("id"), version: f.number("v"), mid: f.optNumber("mid") });
    case "pos":
      return { type, seq: f.number("seq") };
    case "ack":
      return compact({
        type,
        id: f.id(),
        seq: f.number("seq"),
        results: (f.optArray("results") ?? []).map((r, i): AckResult => {
          const result = new FieldReader(`${type}.results[${i}]`, f.objectAt("results", r));
          return { collection: result.string("collection"), id: result.string("id"), version: result.number("v") };
        }),
        result: f.optValue("result"),
        duplicate: f.optBoolean("dup"),
      });
    default:
      return { type: "unknown", wireType: type };
  }
}

/** A queued write's fields without its request id: the `mut` or `call` frame as the store keeps it. */
export function writeFields(write: WriteRequest): JsonObject {
  if (write.type === "mut") {
    return compact({ mid: write.mid, ops: write.ops.map(opFields) });
  }
  return compact({ mid: write.mid, name: write.name, args: write.args });
}

/** A queued write read back from its fields. */
export function readWrite(type: "mut" | "call", f: FieldReader): WriteRequest {
  if (type === "mut") {
    const ops = f.array("ops").map((o, i) => {
      const op = readOp(f.objectAt("ops", o));
      if (op === undefined) {
        throw new MalformedFrameError(`Op ${i} of a 'mut' frame is not a put, patch, inc or delete with its fields.`);
      }
      return op;
    });
    return compact({ type, ops, mid: f.optNumber("mid") });
  }
  return compact({ type, name: f.string("name"), args: f.optValue("args"), mid: f.optNumber("mid") });
}

/** An op's fields, in the order the client has always written them. */
export function opFields(op: WriteOp): JsonObject {
  const head = { op: op.op, collection: op.collection, id: op.id };
  switch (op.op) {
    case "put":
      return compact({ ...head, doc: op.doc, ifVersion: op.ifVersion });
    case "patch":
      return compact({ ...head, set: op.set, unset: op.unset === undefined ? undefined : [...op.unset], ifVersion: op.ifVersion });
    case "inc":
      return compact({ ...head, path: op.path, by: op.by, ifVersion: op.ifVersion });
    case "delete":
      return compact({ ...head, ifVersion: op.ifVersion });
  }
}

/** An op read from its fields; undefined when it is not one with its fields of the right types. */
export function readOp(values: Readonly<Record<string, unknown>>): WriteOp | undefined {
  const { op, collection, id } = values;
  if (typeof collection !== "string" || typeof id !== "string") {
    return undefined;
  }
  const ifVersion = values["ifVersion"] ?? undefined;
  if (ifVersion !== undefined && typeof ifVersion !== "number") {
    return undefined;
  }
  const head = compact({ collection, id, ifVersion });
  switch (op) {
    case "put":
      return isJsonObject(values["doc"]) ? { op, ...head, doc: values["doc"] } : undefined;
    case "patch": {
      const set = values["set"] ?? undefined;
      const unset = values["unset"] ?? undefined;
      if ((set !== undefined && !isJsonObject(set)) || (unset !== undefined && !isStringArray(unset)) || (set === undefined && unset === undefined)) {
        return undefined;
      }
      return compact({ op, ...head, set: set as JsonObject | undefined, unset: unset as string[] | undefined });
    }
    case "inc":
      return typeof values["path"] === "string" && typeof values["by"] === "number" ? { op, ...head, path: values["path"], by: values["by"] } : undefined;
    case "delete":
      return { op, ...head };
    default:
      return undefined;
  }
}

/** Reads fields of one frame, refusing what is missing or of the wrong type. `null` counts as absent. */
export class FieldReader {
  constructor(
    private readonly what: string,
    private readonly values: Readonly<Record<string, unknown>>,
  ) {}

  id(): RequestId {
    return this.required("id", this.optId(), "a number or a string");
  }

  optId(): RequestId | undefined {
    const id = this.get("id");
    if (id === undefined || typeof id === "string" || typeof id === "number") {
      return id;
    }
    throw this.wrong("id", "a number or a string");
  }

  string(name: string): string {
    return this.required(name, this.optString(name), "a string");
  }

  optString(name: string): string | undefined {
    return this.typed(name, (v): v is string => typeof v === "string", "a string");
  }

  number(name: string): number {
    return this.required(name, this.optNumber(name), "a number");
  }

  optNumber(name: string): number | undefined {
    return this.typed(name, (v): v is number => typeof v === "number", "a number");
  }

  optBoolean(name: string): boolean | undefined {
    return this.typed(name, (v): v is boolean => typeof v === "boolean", "true or false");
  }

  object(name: string): JsonObject {
    return this.required(name, this.optObject(name), "an object");
  }

  optObject(name: string): JsonObject | undefined {
    return this.typed(name, isJsonObject, "an object");
  }

  array(name: string): readonly unknown[] {
    return this.required(name, this.optArray(name), "an array");
  }

  optArray(name: string): readonly unknown[] | undefined {
    return this.typed(name, (v): v is unknown[] => Array.isArray(v), "an array");
  }

  /** Any value (a codec has already made it a JSON value). */
  optValue(name: string): JsonValue | undefined {
    return this.get(name) as JsonValue | undefined;
  }

  /** An element of array field `name` that must be an object. */
  objectAt(name: string, value: unknown): JsonObject {
    if (!isJsonObject(value)) {
      throw new MalformedFrameError(`Every element of '${name}' of a '${this.what}' frame must be an object.`);
    }
    return value;
  }

  private get(name: string): unknown {
    const value = Object.hasOwn(this.values, name) ? this.values[name] : undefined;
    return value === null ? undefined : value;
  }

  private typed<T>(name: string, is: (value: unknown) => value is T, kind: string): T | undefined {
    const value = this.get(name);
    if (value === undefined || is(value)) {
      return value;
    }
    throw this.wrong(name, kind);
  }

  private required<T>(name: string, value: T | undefined, kind: string): T {
    if (value === undefined) {
      throw new MalformedFrameError(`A '${this.what}' frame needs '${name}' (${kind}).`);
    }
    return value;
  }

  private wrong(name: string, kind: string): MalformedFrameError {
    return new MalformedFrameError(`'${name}' of a '${this.what}' frame must be ${kind}.`);
  }
}

function specFields(spec: SubscriptionSpec): JsonObject {
  // No filter is written as none at all (not as null): every document.
  return compact({ sub: spec.sub, collection: spec.collection, filter: (spec.filter as JsonObject | null) ?? undefined });
}

function readSpec(f: FieldReader): SubscriptionSpec {
  return { sub: f.string("sub"), collection: f.string("collection"), filter: (f.optObject("filter") as Filter | undefined) ?? null };
}

function changeFields(change: ChangeBody): JsonObject {
  switch (change.kind) {
    case "delta":
      return compact({ set: change.set, unset: change.unset === undefined ? undefined : [...change.unset] });
    case "entered":
      return { doc: change.doc };
    case "deleted":
      return { del: true };
  }
}

function readChange(f: FieldReader): ChangeBody {
  if (f.optBoolean("del") === true) {
    return { kind: "deleted" };
  }
  const doc = f.optObject("doc");
  if (doc !== undefined) {
    return { kind: "entered", doc };
  }
  const unset = f.optArray("unset");
  if (unset !== undefined && !isStringArray(unset)) {
    throw new MalformedFrameError("'unset' of a 'chg' frame must be an array of paths.");
  }
  return compact({ kind: "delta" as const, set: f.optObject("set") ?? {}, unset });
}

function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((v) => typeof v === "string");
}

type Compact<T> = { [K in keyof T as undefined extends T[K] ? never : K]: T[K] } & { [K in keyof T as undefined extends T[K] ? K : never]?: Exclude<T[K], undefined> };

/** The object without its undefined members (absent fields are left out, not written as null). */
export function compact<T extends object>(value: T): Compact<T> {
  for (const key of Object.keys(value) as (keyof T)[]) {
    if (value[key] === undefined) {
      delete value[key];
    }
  }
  return value as Compact<T>;
}
