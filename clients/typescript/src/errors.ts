import type { JsonObject } from "./json.js";
import type { ErrorFrame } from "./protocol/frames.js";

/**
 * The server's stable error codes (docs/errors.md) and whether each is transient (retrying later may
 * succeed). Keep in sync with src/Lockstep.Protocol/ErrorCodes.cs. A code this version does not know
 * is treated as not transient.
 */
export const ErrorCodes = {
  bad_frame: false,
  unknown_type: false,
  invalid_request: false,
  invalid_document: false,
  invalid_filter: false,
  invalid_operation: false,
  frame_too_large: false,
  body_too_large: false,
  hello_required: false,
  not_found: false,
  version_conflict: false,
  precondition_required: false,
  unknown_mutator: false,
  mutation_rejected: false,
  mutator_failed: false,
  duplicate_subscription: false,
  unknown_subscription: false,
  cursor_expired: false,
  idle_timeout: true,
  overloaded: true,
  storage_unavailable: true,
  shutting_down: true,
  unauthorized: false,
  forbidden: false,
  internal_error: false,
  document_too_large: false,
  too_many_subscriptions: false,
  too_many_connections: false,
  rate_limited: true,
  token_expired: true,
  frame_timeout: false,
  lease_lost: false,
  job_not_found: false,
  delivery_failed: true,
  unsupported_protocol: false,
  filter_too_large: false,
  host_not_allowed: false,
  unsupported_media_type: false,
  unknown_endpoint: false,
  method_not_allowed: false,
} as const satisfies Record<string, boolean>;

/** A code of the catalog; errors may carry codes of later server versions too. */
export type ErrorCode = keyof typeof ErrorCodes;

/** True when the code is one retrying later may cure (`overloaded`, `storage_unavailable`, …). */
export function isTransientCode(code: string): boolean {
  return Object.hasOwn(ErrorCodes, code) ? ErrorCodes[code as ErrorCode] : false;
}

/** What an error carries besides its code and message. */
export interface LockstepErrorDetails {
  /** True when retrying later may succeed; by default taken from the catalog. */
  readonly transient?: boolean;
  /** The document as it stands on the server: `{collection, id, v, doc}` or `{…, deleted: true}`. */
  readonly current?: JsonObject | undefined;
  /** A mutator's domain reason, with `mutation_rejected`. */
  readonly reason?: string | undefined;
  /** The index of the failing op of a batch. */
  readonly op?: number | undefined;
}

/** A request the server refused, with its stable error code (docs/errors.md). */
export class LockstepError extends Error {
  /** The stable error code, for example `version_conflict`. */
  readonly code: string;
  /** True when retrying later may succeed. */
  readonly transient: boolean;
  /** The document as it stands on the server, when the error carries it. */
  readonly current: JsonObject | undefined;
  /** A mutator's domain reason, with `mutation_rejected`. */
  readonly reason: string | undefined;
  /** The index of the failing op of a batch, when the server names one. */
  readonly op: number | undefined;

  constructor(code: string, message: string, details: LockstepErrorDetails = {}) {
    super(message);
    this.name = "LockstepError";
    this.code = code;
    this.transient = details.transient ?? isTransientCode(code);
    this.current = details.current;
    this.reason = details.reason;
    this.op = details.op;
  }

  /**
   * Builds the error an `error` frame describes: a {@link VersionConflictError}, a
   * {@link MutationRejectedError}, or a plain {@link LockstepError}.
   */
  static fromFrame(frame: Pick<ErrorFrame, "code" | "message"> & Partial<Pick<ErrorFrame, "op" | "current" | "reason">>): LockstepError {
    const { code, message, op, reason } = frame;
    const current = frame.current === undefined ? undefined : (structuredCloneJson(frame.current) as JsonObject);
    if (code === "version_conflict" || code === "precondition_required") {
      return new VersionConflictError(code, message, current, op);
    }
    if (code === "mutation_rejected") {
      return new MutationRejectedError(reason ?? code, message);
    }
    return new LockstepError(code, message, { current, reason, op });
  }
}

/**
 * A write lost an optimistic-concurrency check (`version_conflict`, or `precondition_required` on a
 * strict collection); {@link LockstepError.current} holds the document as it stands.
 */
export class VersionConflictError extends LockstepError {
  constructor(code: "version_conflict" | "precondition_required", message: string, current?: JsonObject, op?: number) {
    super(code, message, { transient: false, current, op });
    this.name = "VersionConflictError";
  }

  /** The document's current server version (0 when it never existed). */
  get currentVersion(): number {
    const v = this.current?.["v"];
    return typeof v === "number" ? v : 0;
  }

  /** The current document's body, or undefined when it is deleted or never existed. */
  get currentDocument(): JsonObject | undefined {
    const doc = this.current?.["doc"];
    return isObject(doc) ? (doc as JsonObject) : undefined;
  }
}

/** A server-side mutator refused the call (`mutation_rejected`); {@link LockstepError.reason} is its domain code. */
export class MutationRejectedError extends LockstepError {
  declare readonly reason: string;

  constructor(reason: string, message: string) {
    super("mutation_rejected", message, { transient: false, reason });
    this.name = "MutationRejectedError";
  }
}

/** The client was disposed before a write was confirmed (it stays queued in a persistent store). */
export class ClientDisposedError extends Error {
  constructor(message = "The client was disposed.") {
    super(message);
    this.name = "ClientDisposedError";
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function structuredCloneJson(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value)) as unknown;
}
