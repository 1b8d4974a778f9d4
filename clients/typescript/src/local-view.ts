import { CollectionState, docKey, splitKey, type PendingWrite } from "./internal.js";
import { cloneJson, jsonEquals, type JsonObject } from "./json.js";
import type { RemoteUpdate } from "./types.js";
import { applyOp, type WriteOp } from "./write-op.js";

/**
 * What the application sees: per collection, the confirmed documents with every unconfirmed write
 * on top, in order. Recomputed document by document when the server or the write queue changes
 * one; observers hear of each change. Also remembers which confirmed documents changed since the
 * cache was last saved.
 */
export class LocalView {
  private readonly collections = new Map<string, CollectionState>();
  /** Confirmed documents (`collection\nid`) changed since the last save. */
  readonly dirtyDocs = new Set<string>();

  constructor(
    /** The unconfirmed writes, oldest first. */
    private readonly pending: () => readonly PendingWrite[],
  ) {}

  collection(name: string): CollectionState {
    let state = this.collections.get(name);
    if (state === undefined) {
      state = new CollectionState(name);
      this.collections.set(name, state);
    }
    return state;
  }

  /** The collection if it was ever asked for. */
  existing(name: string): CollectionState | undefined {
    return this.collections.get(name);
  }

  all(): IterableIterator<CollectionState> {
    return this.collections.values();
  }

  markDirty(collection: string, id: string): void {
    this.dirtyDocs.add(docKey(collection, id));
  }

  /** Recomputes a document's local view and tells the collection's observers. */
  touch(collection: CollectionState, id: string, remote: RemoteUpdate | undefined): void {
    const { doc, version } = this.computeLocal(collection, id);
    let changed: boolean;
    if (doc === null) {
      changed = collection.view.delete(id);
    } else {
      const last = collection.view.get(id);
      changed = last === undefined || last.version !== version || !jsonEquals(last.doc, doc);
      if (changed) {
        collection.view.set(id, { version, doc });
      }
    }
    if (!changed && remote === undefined) {
      return;
    }
    for (const observer of [...collection.observers]) {
      observer.onDocument(id, doc, version, changed, remote);
    }
  }

  /** Recomputes every document some of these ops write. */
  touchOps(ops: readonly WriteOp[]): void {
    this.touchKeys(new Set(ops.map((o) => docKey(o.collection, o.id))));
  }

  /** Recomputes the documents named by `collection\nid` keys. */
  touchKeys(keys: Iterable<string>): void {
    for (const key of keys) {
      const [collection, id] = splitKey(key);
      this.touch(this.collection(collection), id, undefined);
    }
  }

  /** The local view of one document: the confirmed state with every unconfirmed op on top, in order. */
  private computeLocal(collection: CollectionState, id: string): { doc: JsonObject | null; version: number } {
    const cached = collection.confirmed.get(id);
    const version = cached?.version ?? 0;
    let doc = cached?.body ?? null;
    for (const pending of this.pending()) {
      pending.ops.forEach((op, i) => {
        if (op.id === id && op.collection === collection.name && !pending.isReflected(i, version)) {
          doc = applyOp(doc, op);
        }
      });
    }
    return { doc: doc === null ? null : cloneJson(doc), version };
  }
}

export function remoteUpdate(collection: string, id: string, version: number, seq: number, kind: RemoteUpdate["kind"], set: JsonObject, unset: readonly string[]): RemoteUpdate {
  return { collection, id, version, seq, kind, set, unset };
}
