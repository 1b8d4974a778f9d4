/** A JSON value as documents hold them. */
export type JsonValue = string | number | boolean | null | JsonValue[] | JsonObject;

/** A JSON object: a document, or an object inside one. */
export interface JsonObject {
  [key: string]: JsonValue;
}

/** A deep copy of a JSON value (so callers never hold the client's own objects). */
export function cloneJson<T>(value: T): T {
  return value === undefined ? value : (JSON.parse(JSON.stringify(value)) as T);
}

/** True for a plain JSON object (not an array, not null). */
export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Deep equality of JSON values; numbers by value, object key order ignored. */
export function jsonEquals(a: unknown, b: unknown): boolean {
  if (a === b) {
    return true;
  }
  if (typeof a !== typeof b || a === null || b === null || typeof a !== "object") {
    return false;
  }
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) {
      return false;
    }
    return a.every((item, i) => jsonEquals(item, b[i]));
  }
  const ao = a as Record<string, unknown>;
  const bo = b as Record<string, unknown>;
  const keys = Object.keys(ao);
  if (keys.length !== Object.keys(bo).length) {
    return false;
  }
  return keys.every((k) => Object.hasOwn(bo, k) && jsonEquals(ao[k], bo[k]));
}

/** A surrogate that is not half of a pair: not text, and the server refuses it wherever it is (docs/protocol.md §1, "Text and numbers"). */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** The naming rules of docs/protocol.md §1. */
export const Names = {
  /** 1–64 characters: ASCII letters, digits, `_`, `-`, `.`; not starting with `.`. */
  isValidCollection(name: unknown): name is string {
    return typeof name === "string" && /^[A-Za-z0-9_\-][A-Za-z0-9_.\-]{0,63}$/.test(name);
  },
  /** 1–256 characters; no control characters, no lone surrogates (an emoji's pair is fine), no `/`. */
  isValidId(id: unknown): id is string {
    // eslint-disable-next-line no-control-regex
    return typeof id === "string" && id.length >= 1 && id.length <= 256 && !/[\u0000-\u001f\u007f-\u009f/]/.test(id) && !LONE_SURROGATE.test(id);
  },
  /** Non-empty; no `.`; no control characters, no lone surrogates. */
  isValidFieldName(name: unknown): name is string {
    // eslint-disable-next-line no-control-regex
    return typeof name === "string" && name.length > 0 && !/[.\u0000-\u001f\u007f-\u009f]/.test(name) && !LONE_SURROGATE.test(name);
  },
  /** Splits a dotted path into at most 32 valid field names; undefined when it is not a valid path. */
  splitPath(path: unknown): string[] | undefined {
    if (typeof path !== "string" || path.length === 0) {
      return undefined;
    }
    const parts = path.split(".");
    return parts.length <= 32 && parts.every((p) => Names.isValidFieldName(p)) ? parts : undefined;
  },
} as const;

/** Sets a dotted path, creating intermediate objects; false when an intermediate is not an object. */
export function setPath(doc: JsonObject, segments: readonly string[], value: JsonValue): boolean {
  let node = doc;
  for (let i = 0; i < segments.length - 1; i++) {
    const key = segments[i]!;
    const child = node[key];
    if (child === undefined || child === null) {
      const created: JsonObject = {};
      node[key] = created;
      node = created;
    } else if (isJsonObject(child)) {
      node = child;
    } else {
      return false;
    }
  }
  node[segments[segments.length - 1]!] = value;
  return true;
}

/** Removes a dotted path if present. */
export function unsetPath(doc: JsonObject, segments: readonly string[]): void {
  let node = doc;
  for (let i = 0; i < segments.length - 1; i++) {
    const child = node[segments[i]!];
    if (!isJsonObject(child)) {
      return;
    }
    node = child;
  }
  delete node[segments[segments.length - 1]!];
}

/** Reads a dotted path; undefined when missing. */
export function getPath(doc: JsonObject, segments: readonly string[]): JsonValue | undefined {
  let node: JsonValue | undefined = doc;
  for (const key of segments) {
    if (!isJsonObject(node)) {
      return undefined;
    }
    node = node[key];
  }
  return node;
}

/** Applies a change frame's delta (`set`: dotted path → value, `unset`: paths) in place, as the server computed it. */
export function applyDelta(doc: JsonObject, set: JsonObject | undefined, unset: readonly string[] | undefined): void {
  for (const path of unset ?? []) {
    unsetPath(doc, path.split("."));
  }
  for (const [path, value] of Object.entries(set ?? {})) {
    setPath(doc, path.split("."), cloneJson(value));
  }
}
