// The frames of docs/protocol.md as types. Keep in sync with: docs/protocol.md (§3–§7, §11) and the
// codecs beside this file, which are the only code that knows how a frame is spelt on the wire.
import type { Filter } from "../filter.js";
import type { JsonObject, JsonValue } from "../json.js";
import type { WriteOp } from "../write-op.js";

/** A request's id: a number or a string chosen by the client, echoed in every reply. */
export type RequestId = string | number;

/** A subscription as `sub` asks for it and `hello.subs` resumes it. */
export interface SubscriptionSpec {
  /** The client's name for it. */
  readonly sub: string;
  readonly collection: string;
  /** Null: every document. */
  readonly filter: Filter | null;
}

// ---- client → server ----------------------------------------------------------------------

export interface HelloFrame {
  readonly type: "hello";
  readonly id: RequestId;
  readonly clientId?: string;
  readonly protocol?: number;
  readonly token?: string;
  readonly cursor?: number;
  readonly subs?: readonly SubscriptionSpec[];
}

export interface SubFrame extends SubscriptionSpec {
  readonly type: "sub";
  readonly id: RequestId;
}

export interface UnsubFrame {
  readonly type: "unsub";
  readonly id: RequestId;
  readonly sub: string;
}

/** A batch of ops applied atomically. */
export interface MutFrame {
  readonly type: "mut";
  readonly id: RequestId;
  readonly ops: readonly WriteOp[];
  /** The client's mutation number (idempotency). */
  readonly mid?: number;
}

/** A server-side mutator call. */
export interface CallFrame {
  readonly type: "call";
  readonly id: RequestId;
  readonly name: string;
  readonly args?: JsonValue;
  readonly mid?: number;
}

export interface PingFrame {
  readonly type: "ping";
  readonly id: RequestId;
}

export type ClientFrame = HelloFrame | SubFrame | UnsubFrame | MutFrame | CallFrame | PingFrame;

/** A write as the client queues it: a `mut` or `call` frame before it is given a request id. */
export type WriteRequest = DistributiveOmit<MutFrame, "id"> | DistributiveOmit<CallFrame, "id">;

// ---- server → client ----------------------------------------------------------------------

export interface WelcomeFrame {
  readonly type: "welcome";
  readonly id: RequestId;
  readonly session: string;
  /** The last committed seq at the time of the hello. */
  readonly head: number;
  readonly horizon: number;
  /** The session's stream position. */
  readonly cursor: number;
  /** Present when the hello sent a cursor: whether it could be resumed. */
  readonly resumable?: boolean;
  readonly heartbeatMs: number;
  readonly idleTimeoutMs: number;
  readonly maxFrameBytes: number;
  readonly protocol: number;
}

export interface PongFrame {
  readonly type: "pong";
  readonly id: RequestId;
  readonly head: number;
}

export interface SubscribedFrame {
  readonly type: "subscribed";
  readonly id: RequestId;
  readonly sub: string;
  readonly seq: number;
}

export interface OkFrame {
  readonly type: "ok";
  readonly id: RequestId;
}

export interface ErrorFrame {
  readonly type: "error";
  /** Absent when the request could not be read far enough to find one (or the error is the server's own). */
  readonly id?: RequestId;
  readonly code: string;
  readonly message: string;
  /** The failing op's index in a batch. */
  readonly op?: number;
  /** The document as it stands: `{collection, id, v, doc}` or `{…, deleted: true}`. */
  readonly current?: JsonObject;
  /** A mutator's own reason, with `mutation_rejected`. */
  readonly reason?: string;
  /** A replayed refusal. */
  readonly duplicate?: boolean;
}

/** One document of a snapshot. */
export interface SnapshotDoc {
  readonly id: string;
  readonly version: number;
  readonly doc: JsonObject;
}

export interface SnapshotFrame {
  readonly type: "snapshot";
  /** The `sub` (or `hello`) request's id; absent for a snapshot the server sends on its own. */
  readonly id?: RequestId;
  readonly sub: string;
  readonly seq: number;
  readonly docs: readonly SnapshotDoc[];
  readonly last: boolean;
  /** Drop everything held for this subscription first. */
  readonly reset?: boolean;
}

/** What a change did to a document of a subscription. */
export type ChangeBody =
  /** Fields changed (possibly none). */
  | { readonly kind: "delta"; readonly set: JsonObject; readonly unset?: readonly string[] }
  /** The document entered the subscription: the whole of it. */
  | { readonly kind: "entered"; readonly doc: JsonObject }
  | { readonly kind: "deleted" };

export interface ChangeFrame {
  readonly type: "chg";
  readonly sub: string;
  readonly seq: number;
  /** The document's id. */
  readonly id: string;
  readonly version: number;
  readonly change: ChangeBody;
  /** Only on the connection's own changes: the mutation that made it. */
  readonly mid?: number;
}

export interface RemovedFrame {
  readonly type: "removed";
  readonly sub: string;
  readonly seq: number;
  readonly id: string;
  readonly version: number;
  readonly mid?: number;
}

export interface PosFrame {
  readonly type: "pos";
  readonly seq: number;
}

/** The version one op produced. */
export interface AckResult {
  readonly collection: string;
  readonly id: string;
  readonly version: number;
}

export interface AckFrame {
  readonly type: "ack";
  readonly id: RequestId;
  readonly seq: number;
  readonly results: readonly AckResult[];
  /** A mutator's result; absent when none. */
  readonly result?: JsonValue;
  /** A replay: the original outcome. */
  readonly duplicate?: boolean;
}

export type ServerFrame =
  | WelcomeFrame
  | PongFrame
  | SubscribedFrame
  | OkFrame
  | ErrorFrame
  | SnapshotFrame
  | ChangeFrame
  | RemovedFrame
  | PosFrame
  | AckFrame;

/** A frame of a type this client does not know (a later protocol version's): ignored. */
export interface UnknownFrame {
  readonly type: "unknown";
  /** The type as it came: a name in JSON, a number in MessagePack. */
  readonly wireType: string | number;
}

export type Frame = ClientFrame | ServerFrame;

/** What a codec reads: every known frame, or a frame of an unknown type. */
export type DecodedFrame = Frame | UnknownFrame;

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
