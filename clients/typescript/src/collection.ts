import type { ClientCore } from "./core.js";
import type { Filter } from "./filter.js";
import { AsyncQueue, type CollectionState, type ViewObserver } from "./internal.js";
import { cloneJson, type JsonObject } from "./json.js";
import { LiveQuery } from "./live-query.js";
import type { DocumentChange, RemoteUpdate, WriteAck } from "./types.js";
import { WriteOp } from "./write-op.js";

/** Options of a single-document write. */
export interface WriteOptions {
  /** Apply only if the document is at this version (0: must not exist); else `version_conflict`. */
  readonly ifVersion?: number | undefined;
  /** Stops waiting (the promise rejects with the signal's reason); the write stays queued and takes effect once. */
  readonly signal?: AbortSignal | undefined;
}

/** Options of a patch. */
export interface PatchOptions extends WriteOptions {
  /** Field paths to remove. */
  readonly unset?: readonly string[] | undefined;
}

/**
 * One collection seen through the client: its local view (server state with this client's
 * unconfirmed writes on top), writes that show at once and are confirmed later, live queries, and
 * remote-update hooks. Get one with {@link LockstepClient.collection}.
 */
export class LockstepCollection<T extends object = JsonObject> {
  private readonly state: CollectionState;

  /** @internal Made by {@link LockstepClient.collection}. */
  constructor(
    private readonly core: ClientCore,
    /** The collection name. */
    readonly name: string,
  ) {
    this.state = core.collectionState(name);
  }

  /** A document as the local view shows it (a copy), or undefined when it is not there. */
  get(id: string): T | undefined {
    const entry = this.state.view.get(id);
    return entry === undefined ? undefined : (cloneJson(entry.doc) as unknown as T);
  }

  /** The server version the local view of a document is based on (0 when none). */
  getVersion(id: string): number {
    return this.state.view.get(id)?.version ?? 0;
  }

  /** Every document of the local view (copies): those of this collection's subscriptions, and those this client is writing. */
  get documents(): ReadonlyMap<string, T> {
    return new Map([...this.state.view].map(([id, entry]) => [id, cloneJson(entry.doc) as unknown as T]));
  }

  /**
   * Replaces (or creates) a whole document. It shows in the local view at once; the promise resolves
   * when the server has made it durable, and rejects with a {@link LockstepError} when it refuses it
   * (the local view has then returned to the server's state).
   */
  put(id: string, document: T, options: WriteOptions = {}): Promise<WriteAck> {
    return this.write(WriteOp.put(this.name, id, document, options.ifVersion), options.signal);
  }

  /** Sets fields (keys are field paths: `"title"`, `"address.city"`); other fields stay. Creates the document if missing. */
  patch(id: string, set: Partial<T> | JsonObject, options: PatchOptions = {}): Promise<WriteAck> {
    return this.write(WriteOp.patch(this.name, id, set, options.unset, options.ifVersion), options.signal);
  }

  /** Adds `by` (default 1) to a numeric field (a missing one counts as 0). Increments from different clients commute. */
  increment(id: string, path: string, by = 1, options: WriteOptions = {}): Promise<WriteAck> {
    return this.write(WriteOp.increment(this.name, id, path, by, options.ifVersion), options.signal);
  }

  /** Deletes a document. */
  delete(id: string, options: WriteOptions = {}): Promise<WriteAck> {
    return this.write(WriteOp.delete(this.name, id, options.ifVersion), options.signal);
  }

  /**
   * Subscribes to the documents matching `filter` (docs/protocol.md §4; omit it for all). Queries
   * with the same collection and filter share one server subscription. Throws a TypeError for a
   * malformed filter.
   */
  subscribe(filter?: Filter | null): LiveQuery<T> {
    const sub = this.core.subscribe(this.name, filter);
    return new LiveQuery<T>(this.core, this.state, sub);
  }

  /**
   * Calls `handler` with each change another participant makes to a document of this collection's
   * subscriptions, and the document's local state after it (the seed's
   * `registerSyncHook(collection, { onRemoteUpdate(delta, localState) })`). Handlers run one at a
   * time, in log order, just after the client applied the change. Returns a function that stops it.
   */
  onRemoteUpdate(handler: (delta: RemoteUpdate, localState: T | undefined) => void): () => void {
    return this.observe({
      onDocument: (_id, doc, _version, _changed, remote) => {
        if (remote !== undefined) {
          const local = doc === null ? undefined : (cloneJson(doc) as unknown as T);
          this.core.events.post(() => handler(remote, local));
        }
      },
    });
  }

  /**
   * Calls `handler` for every change of this collection's local view: remote changes, this client's
   * own writes, confirmations and reverts (`isRemote` tells them apart). Returns a function that stops it.
   */
  onChange(handler: (change: DocumentChange<T>) => void): () => void {
    return this.observe({
      onDocument: (id, doc, version, changed, remote) => {
        if (changed) {
          const change: DocumentChange<T> = { id, document: doc === null ? undefined : (cloneJson(doc) as unknown as T), version, isRemote: remote !== undefined };
          this.core.events.post(() => handler(change));
        }
      },
    });
  }

  /** Every change of this collection's local view from now on, until the signal aborts (the iteration then throws its reason). */
  watch(signal?: AbortSignal): AsyncIterable<DocumentChange<T>> {
    // Follows from when the iteration starts, and stops following when it ends.
    return {
      [Symbol.asyncIterator]: () => {
        const queue = new AsyncQueue<DocumentChange<T>>();
        const stop = this.observe({
          onDocument: (id, doc, version, changed, remote) => {
            if (changed) {
              queue.push({ id, document: doc === null ? undefined : (cloneJson(doc) as unknown as T), version, isRemote: remote !== undefined });
            }
          },
        });
        return queue.read(signal, stop);
      },
    };
  }

  private observe(observer: ViewObserver): () => void {
    this.state.observers.add(observer);
    return () => this.state.observers.delete(observer);
  }

  private write(op: WriteOp, signal: AbortSignal | undefined): Promise<WriteAck> {
    return this.core.enqueue({ type: "mut", ops: [op] }, [op], signal);
  }
}
