import { cloneJson, getPath, isJsonObject, Names, setPath, unsetPath, type JsonObject, type JsonValue } from "./json.js";

/** Replaces (or creates) a whole document. */
export interface PutOp {
  readonly op: "put";
  readonly collection: string;
  readonly id: string;
  readonly doc: JsonObject;
  readonly ifVersion?: number;
}

/** Sets dotted field paths and removes others; creates the document if missing. */
export interface PatchOp {
  readonly op: "patch";
  readonly collection: string;
  readonly id: string;
  readonly set?: JsonObject;
  readonly unset?: readonly string[];
  readonly ifVersion?: number;
}

/** Adds `by` to a numeric field (a missing one counts as 0). */
export interface IncOp {
  readonly op: "inc";
  readonly collection: string;
  readonly id: string;
  readonly path: string;
  readonly by: number;
  readonly ifVersion?: number;
}

/** Deletes a document (a tombstone). */
export interface DeleteOp {
  readonly op: "delete";
  readonly collection: string;
  readonly id: string;
  readonly ifVersion?: number;
}

/** One operation of a mutation, in its wire form (docs/protocol.md §5). Build with {@link WriteOp.put} and friends. */
export type WriteOp = PutOp | PatchOp | IncOp | DeleteOp;

/** Builders of {@link WriteOp}s; each validates names and copies the values it is given. */
export const WriteOp = {
  /** Replaces (or creates) a whole document. */
  put(collection: string, id: string, doc: JsonObject | object, ifVersion?: number): PutOp {
    if (!isJsonObject(doc)) {
      throw new TypeError("A document must be a JSON object.");
    }
    return withVersion({ op: "put", collection: checkCollection(collection), id: checkId(id), doc: toJsonObject(doc) }, ifVersion);
  },

  /** Sets fields (keys are dotted paths: `"address.city"`) and removes others; creates the document if missing. */
  patch(collection: string, id: string, set: JsonObject | object, unset?: readonly string[], ifVersion?: number): PatchOp {
    if (!isJsonObject(set)) {
      throw new TypeError("A patch's set must be an object of field paths to values.");
    }
    const values = toJsonObject(set);
    for (const path of [...Object.keys(values), ...(unset ?? [])]) {
      if (Names.splitPath(path) === undefined) {
        throw new TypeError(`'${path}' is not a valid field path.`);
      }
    }
    if (Object.keys(values).length === 0 && (unset?.length ?? 0) === 0) {
      throw new TypeError("A patch needs at least one field to set or unset.");
    }
    const op: { -readonly [K in keyof PatchOp]: PatchOp[K] } = { op: "patch", collection: checkCollection(collection), id: checkId(id), set: values };
    if (unset !== undefined && unset.length > 0) {
      op.unset = [...unset];
    }
    return withVersion(op, ifVersion);
  },

  /** Adds `by` (default 1) to a numeric field; a missing one counts as 0. Increments commute. */
  increment(collection: string, id: string, path: string, by = 1, ifVersion?: number): IncOp {
    if (Names.splitPath(path) === undefined) {
      throw new TypeError(`'${path}' is not a valid field path.`);
    }
    if (!Number.isFinite(by)) {
      throw new TypeError("An increment must be a finite number.");
    }
    return withVersion({ op: "inc", collection: checkCollection(collection), id: checkId(id), path, by }, ifVersion);
  },

  /** Deletes a document. */
  delete(collection: string, id: string, ifVersion?: number): DeleteOp {
    return withVersion({ op: "delete", collection: checkCollection(collection), id: checkId(id) }, ifVersion);
  },
} as const;

/**
 * Applies an unconfirmed op to the local copy of a document the way the server will (for the
 * optimistic view). Returns the document after it, or null when deleted; an op the server would
 * refuse leaves the document as it was. The input is not modified.
 */
export function applyOp(doc: JsonObject | null, op: WriteOp): JsonObject | null {
  switch (op.op) {
    case "delete":
      return null;
    case "put":
      return cloneJson(op.doc);
    case "patch": {
      const after = doc === null ? {} : cloneJson(doc);
      for (const path of op.unset ?? []) {
        const segments = Names.splitPath(path);
        if (segments !== undefined) {
          unsetPath(after, segments);
        }
      }
      for (const [path, value] of Object.entries(op.set ?? {})) {
        const segments = Names.splitPath(path);
        if (segments !== undefined) {
          setPath(after, segments, cloneJson(value));
        }
      }
      return after;
    }
    case "inc": {
      const after = doc === null ? {} : cloneJson(doc);
      const segments = Names.splitPath(op.path);
      if (segments === undefined) {
        return after;
      }
      const existing = getPath(after, segments);
      if (existing !== undefined && existing !== null && typeof existing !== "number") {
        return after;
      }
      setPath(after, segments, (existing ?? 0) + op.by);
      return after;
    }
  }
}

function withVersion<T extends WriteOp>(op: T, ifVersion: number | undefined): T {
  if (ifVersion === undefined) {
    return op;
  }
  if (!Number.isSafeInteger(ifVersion) || ifVersion < 0) {
    throw new TypeError("ifVersion must be a non-negative integer.");
  }
  return { ...op, ifVersion };
}

function checkCollection(name: string): string {
  if (!Names.isValidCollection(name)) {
    throw new TypeError(`'${String(name)}' is not a valid collection name.`);
  }
  return name;
}

function checkId(id: string): string {
  if (!Names.isValidId(id)) {
    throw new TypeError(`'${String(id)}' is not a valid document id.`);
  }
  return id;
}

/** Copies a plain object through JSON, so what is queued is exactly what goes on the wire (undefined fields dropped, dates as text). */
function toJsonObject(value: object): JsonObject {
  const copy = JSON.parse(JSON.stringify(value)) as JsonValue;
  if (!isJsonObject(copy)) {
    throw new TypeError("A document must be a JSON object.");
  }
  return copy;
}
