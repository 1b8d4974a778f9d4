import type { ClientCore } from "./core.js";
import { AsyncQueue, withSignal, type CollectionState, type SubscriptionState, type ViewObserver } from "./internal.js";
import { cloneJson, type JsonObject } from "./json.js";
import type { DocumentChange, RemoteUpdate } from "./types.js";

/**
 * The live result of a subscription: the documents of the local view that match its filter, kept
 * current as server changes arrive and as this client writes. Dispose it to unsubscribe.
 */
export class LiveQuery<T extends object = JsonObject> {
  private readonly current = new Map<string, { version: number; doc: JsonObject }>();
  private readonly handlers = new Set<(change: DocumentChange<T>) => void>();
  private readonly watchers = new Set<AsyncQueue<DocumentChange<T>>>();
  private readonly observer: ViewObserver;
  private disposed = false;

  /** @internal Made by {@link LockstepCollection.subscribe}. */
  constructor(
    private readonly core: ClientCore,
    private readonly collection: CollectionState,
    private readonly sub: SubscriptionState,
  ) {
    for (const [id, entry] of collection.view) {
      if (sub.matches(entry.doc)) {
        this.current.set(id, entry);
      }
    }
    this.observer = { onDocument: (id, doc, version, changed, remote) => this.onDocument(id, doc, version, changed, remote) };
    collection.observers.add(this.observer);
  }

  /** The subscription's name on the wire (derived from collection and filter). */
  get name(): string {
    return this.sub.name;
  }

  /**
   * Completes when the initial snapshot has arrived (at once for a subscription restored from the
   * store); rejects with a {@link LockstepError} when the server refuses the subscription.
   */
  ready(signal?: AbortSignal): Promise<void> {
    return withSignal(this.sub.ready.promise, signal);
  }

  /** The matching documents now, ordered by id (copies). */
  get results(): T[] {
    return [...this.current.keys()].sort(compareIds).map((id) => cloneJson(this.current.get(id)!.doc) as unknown as T);
  }

  /** The matching documents now, by id (copies). */
  get documents(): ReadonlyMap<string, T> {
    return new Map([...this.current].map(([id, entry]) => [id, cloneJson(entry.doc) as unknown as T]));
  }

  /** The number of matching documents. */
  get count(): number {
    return this.current.size;
  }

  /** Calls `handler` for each document that enters, changes in, or leaves the result, in order. Returns a function that stops it. */
  onChange(handler: (change: DocumentChange<T>) => void): () => void {
    this.handlers.add(handler);
    return () => this.handlers.delete(handler);
  }

  /** Every change of the result from now on, until the signal aborts (the iteration then throws its reason) or the query is disposed. */
  changes(signal?: AbortSignal): AsyncIterable<DocumentChange<T>> {
    // Follows from when the iteration starts, and stops following when it ends.
    return {
      [Symbol.asyncIterator]: () => {
        const queue = new AsyncQueue<DocumentChange<T>>();
        if (this.disposed) {
          queue.close();
        } else {
          this.watchers.add(queue);
        }
        return queue.read(signal, () => this.watchers.delete(queue));
      },
    };
  }

  /** Stops following and unsubscribes (when no other query shares the subscription). */
  dispose(): void {
    if (this.disposed) {
      return;
    }
    this.disposed = true;
    this.collection.observers.delete(this.observer);
    for (const watcher of this.watchers) {
      watcher.close();
    }
    this.watchers.clear();
    this.handlers.clear();
    this.core.unsubscribe(this.sub);
  }

  private onDocument(id: string, doc: JsonObject | null, version: number, changed: boolean, remote: RemoteUpdate | undefined): void {
    if (!changed) {
      return;
    }
    const matches = doc !== null && this.sub.matches(doc);
    if (matches) {
      this.current.set(id, { version, doc });
    } else if (!this.current.delete(id)) {
      return;
    }
    const change: DocumentChange<T> = { id, document: matches ? (cloneJson(doc) as unknown as T) : undefined, version, isRemote: remote !== undefined };
    for (const watcher of this.watchers) {
      watcher.push(change);
    }
    for (const handler of [...this.handlers]) {
      this.core.events.post(() => {
        if (this.handlers.has(handler)) {
          handler(change);
        }
      });
    }
  }
}

/** Ordinal order of ids (UTF-16 code units), as the server lists them. */
export function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
