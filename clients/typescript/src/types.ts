import { cloneJson, type JsonObject, type JsonValue } from "./json.js";
import type { AckFrame } from "./protocol/frames.js";

/** Where the client's connection stands. */
export type ConnectionState =
  /** Connecting (or reconnecting) to a server. */
  | "connecting"
  /** Connected, said hello, subscriptions resumed: writes go out at once. */
  | "online"
  /** Between attempts; writes wait in the queue. */
  | "offline"
  /** Disposed. */
  | "closed";

/** What a remote change did to a document of a subscription. */
export type RemoteUpdateKind =
  /** Fields changed; `set` and `unset` say which. */
  | "changed"
  /** The document entered the view (created, now matching the filter, or in a snapshot); `set` is the whole document. */
  | "entered"
  /** The document was deleted. */
  | "deleted"
  /** The document no longer matches any subscription's filter. */
  | "removed";

/** A change another participant made to a document this client subscribes to: the seed's "delta". */
export interface RemoteUpdate {
  readonly collection: string;
  readonly id: string;
  /** The document's new server version. */
  readonly version: number;
  /** The change's log position. */
  readonly seq: number;
  readonly kind: RemoteUpdateKind;
  /** Changed fields (dotted paths → new values); for `entered`, the whole document; empty otherwise. */
  readonly set: JsonObject;
  /** Removed field paths. */
  readonly unset: readonly string[];
}

/** A document of the local view changed. */
export interface DocumentChange<T> {
  readonly id: string;
  /** The document as the local view now shows it (server state with unconfirmed writes on top); undefined when it left. */
  readonly document: T | undefined;
  /** The last server version the view is based on (0 when the server has none yet). */
  readonly version: number;
  /** True when a change from elsewhere caused it; false for this client's own writes, confirmations and reverts. */
  readonly isRemote: boolean;
}

/** The version one op of a write produced. */
export interface WrittenVersion {
  readonly collection: string;
  readonly id: string;
  readonly version: number;
}

/** A committed (durable) write. */
export interface WriteAck {
  /** The log position of its last change. */
  readonly seq: number;
  /** The version each op produced, in op order. */
  readonly results: readonly WrittenVersion[];
  /** A mutator's return value (undefined when none). */
  readonly result: JsonValue | undefined;
  /** True when the server had already applied this write (a replay after a reconnect or a restart). */
  readonly duplicate: boolean;
}

/** The acknowledgement an `ack` frame gives. */
export function writeAckFromFrame(frame: AckFrame): WriteAck {
  return {
    seq: frame.seq,
    results: frame.results.map((r) => ({ collection: r.collection, id: r.id, version: r.version })),
    result: frame.result === undefined ? undefined : cloneJson(frame.result),
    duplicate: frame.duplicate === true,
  };
}
