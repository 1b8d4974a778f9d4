import { cloneJson, type JsonObject } from "./json.js";
import type { Filter } from "./filter.js";

/** A confirmed document as the store keeps it: its server version, body, and the subscriptions that hold it. */
export interface StoredDoc {
  readonly collection: string;
  readonly id: string;
  readonly version: number;
  readonly body: JsonObject | null;
  readonly subs: readonly string[];
}

/** A subscription as the store keeps it; `established` once its snapshot was complete (it can be resumed from the cursor). */
export interface StoredSub {
  readonly name: string;
  readonly collection: string;
  readonly filter: Filter | null;
  readonly established: boolean;
}

/** A write not yet confirmed: its mutation number and its `mut` or `call` frame. */
export interface StoredWrite {
  readonly mid: number;
  readonly frame: JsonObject;
}

/** Everything a client keeps between runs. */
export interface StoredState {
  /** `clientId`, `midReserved` (the end of the block of mutation numbers reserved so far), `cursor`. */
  readonly meta: Readonly<Record<string, string>>;
  readonly docs: readonly StoredDoc[];
  readonly subs: readonly StoredSub[];
  /** In mutation-number order. */
  readonly pending: readonly StoredWrite[];
}

/** What changed in the cache since the last flush, written in one transaction with the cursor. */
export interface StoreFlush {
  readonly cursor: number;
  readonly upserts: readonly StoredDoc[];
  readonly deletes: readonly { readonly collection: string; readonly id: string }[];
  readonly subs: readonly StoredSub[];
  readonly removedSubs: readonly string[];
}

/**
 * Where a client keeps its id, its cursor, the confirmed documents of its subscriptions and the queue
 * of unconfirmed writes. One client at a time may use a store. Every method may complete
 * synchronously or return a promise; the client keeps the order of its calls (it waits for nothing
 * but `open`, and sends a write to the server only after `addPending` of it has completed).
 */
export interface ClientStore {
  /** Takes the store for one client and reads what it holds. Throws when another client has it open. */
  open(): StoredState | Promise<StoredState>;
  setMeta(key: string, value: string): void | Promise<void>;
  addPending(write: StoredWrite): void | Promise<void>;
  removePending(mid: number): void | Promise<void>;
  /** Writes the cache changes, the subscriptions and the cursor together (one consistent position). */
  flush(batch: StoreFlush): void | Promise<void>;
  /** Releases the store; a later `open` (by a new client) sees everything written so far. */
  close(): void | Promise<void>;
}

/**
 * A store in memory: the default in Node. It outlives the client that used it, so handing the same
 * store to a new client is a restart of the client (what a process restart is with a persistent
 * store); it does not outlive the process. Values are copied in and out, so a new client sees only
 * what was written to the store, never the old client's live objects.
 */
export class MemoryStore implements ClientStore {
  private readonly meta = new Map<string, string>();
  private readonly docs = new Map<string, StoredDoc>();
  private readonly subs = new Map<string, StoredSub>();
  private readonly pending = new Map<number, JsonObject>();
  private inUse = false;

  open(): StoredState {
    if (this.inUse) {
      throw new Error("This store is in use by another client; give each client its own store, or dispose the other first.");
    }
    this.inUse = true;
    return cloneJson({
      meta: Object.fromEntries(this.meta),
      docs: [...this.docs.values()],
      subs: [...this.subs.values()],
      pending: [...this.pending.entries()].sort((a, b) => a[0] - b[0]).map(([mid, frame]) => ({ mid, frame })),
    });
  }

  setMeta(key: string, value: string): void {
    this.meta.set(key, value);
  }

  addPending(write: StoredWrite): void {
    this.pending.set(write.mid, cloneJson(write.frame));
  }

  removePending(mid: number): void {
    this.pending.delete(mid);
  }

  flush(batch: StoreFlush): void {
    for (const doc of batch.upserts) {
      this.docs.set(docKey(doc.collection, doc.id), cloneJson(doc));
    }
    for (const doc of batch.deletes) {
      this.docs.delete(docKey(doc.collection, doc.id));
    }
    for (const sub of batch.subs) {
      this.subs.set(sub.name, cloneJson(sub));
    }
    for (const name of batch.removedSubs) {
      this.subs.delete(name);
    }
    this.meta.set("cursor", String(batch.cursor));
  }

  close(): void {
    this.inUse = false;
  }

  /** The number of queued (unconfirmed) writes the store holds: for tests and diagnostics. */
  get pendingCount(): number {
    return this.pending.size;
  }
}

function docKey(collection: string, id: string): string {
  return `${collection}\n${id}`;
}
