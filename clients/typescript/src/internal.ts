// The client's inner bookkeeping, shared by its modules; nothing here is exported from the package.
import type { Filter } from "./filter.js";
import type { JsonObject } from "./json.js";
import type { SubscriptionSpec, WriteRequest } from "./protocol/frames.js";
import type { RemoteUpdate, WriteAck } from "./types.js";
import type { WriteOp } from "./write-op.js";

/** Something that logs; `console` fits. */
export interface Logger {
  debug?(message: string, ...details: unknown[]): void;
  info?(message: string, ...details: unknown[]): void;
  warn?(message: string, ...details: unknown[]): void;
  error?(message: string, ...details: unknown[]): void;
}

const noop = (): void => undefined;

/** A promise with its resolve and reject at hand. Its rejection never counts as unhandled: whoever awaits it still sees it. */
export class Deferred<T> {
  readonly promise: Promise<T>;
  resolve!: (value: T) => void;
  reject!: (reason: unknown) => void;
  settled = false;

  constructor() {
    this.promise = new Promise<T>((resolve, reject) => {
      this.resolve = (value) => {
        this.settled = true;
        resolve(value);
      };
      this.reject = (reason) => {
        this.settled = true;
        reject(reason);
      };
    });
    this.promise.catch(noop);
  }
}

/** A promise that also rejects when the signal aborts (the work behind it goes on). Never unhandled. */
export function withSignal<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) {
    return promise;
  }
  const raced = new Promise<T>((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
  raced.catch(noop);
  return raced;
}

/** A sleep that ends early (resolving false) when the signal aborts. */
export function delay(ms: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal.aborted) {
      resolve(false);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve(true);
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * An unbounded queue read as an AsyncIterable by one consumer. `close` ends the iteration after
 * what is queued; an aborted signal ends it with the signal's reason.
 */
export class AsyncQueue<T> {
  private readonly items: T[] = [];
  private waiter: Deferred<void> | undefined;
  private closed = false;

  push(item: T): void {
    if (this.closed) {
      return;
    }
    this.items.push(item);
    this.waiter?.resolve();
  }

  close(): void {
    this.closed = true;
    this.waiter?.resolve();
  }

  async *read(signal: AbortSignal | undefined, onEnd: () => void): AsyncGenerator<T, void, undefined> {
    const onAbort = (): void => this.waiter?.resolve();
    signal?.addEventListener("abort", onAbort);
    try {
      while (true) {
        if (signal?.aborted === true) {
          throw signal.reason;
        }
        const item = this.items.shift();
        if (item !== undefined) {
          yield item;
          continue;
        }
        if (this.closed) {
          return;
        }
        this.waiter = new Deferred<void>();
        await this.waiter.promise;
        this.waiter = undefined;
      }
    } finally {
      signal?.removeEventListener("abort", onAbort);
      onEnd();
    }
  }
}

/**
 * Runs callbacks (hooks, change handlers, state handlers) one at a time, in the order they were
 * queued, just after the client's current step: never inside it, so a callback may call the client.
 * A callback that throws is logged and does not stop the others.
 */
export class EventDispatcher {
  private readonly queue: (() => void)[] = [];
  private scheduled = false;

  constructor(private readonly logger: Logger | undefined) {}

  post(action: () => void): void {
    this.queue.push(action);
    if (!this.scheduled) {
      this.scheduled = true;
      queueMicrotask(() => this.drain());
    }
  }

  private drain(): void {
    // Callbacks queued by callbacks run in this same drain, after those queued before them.
    for (let action = this.queue.shift(); action !== undefined; action = this.queue.shift()) {
      try {
        action();
      } catch (error) {
        this.logger?.error?.("lockstep: a callback threw", error);
      }
    }
    this.scheduled = false;
  }
}

/** A document as the server last told this client: its version, body, and the subscriptions that hold it. */
export interface CachedDoc {
  version: number;
  body: JsonObject | null;
  readonly subs: Set<string>;
}

/** Something that follows a collection's local view: a hook, a watcher, a live query. */
export interface ViewObserver {
  /**
   * Called after a document's local view was recomputed. `changed` says whether the view changed;
   * `remote` is set when another participant's change caused it. Implementations only queue work.
   */
  onDocument(id: string, doc: JsonObject | null, version: number, changed: boolean, remote: RemoteUpdate | undefined): void;
}

/** One collection's state inside the client. */
export class CollectionState {
  /** The confirmed documents of its subscriptions. */
  readonly confirmed = new Map<string, CachedDoc>();
  /** The local view (confirmed + pending) as last shown, for documents that exist in it. */
  readonly view = new Map<string, { version: number; doc: JsonObject }>();
  readonly observers = new Set<ViewObserver>();
  /** Active subscriptions on this collection. */
  subscriptions = 0;

  constructor(readonly name: string) {}
}

/** A subscription as the client tracks it across connections. */
export class SubscriptionState {
  /** A complete snapshot was received: the subscription can be resumed from the cursor. */
  established = false;
  /** A `sub` was sent on the current connection. */
  requested = false;
  /** Ids seen in the snapshot being received (undefined when none is). */
  snapshotIds: Set<string> | undefined;
  refs = 0;
  ready = new Deferred<void>();

  constructor(
    readonly name: string,
    readonly collection: string,
    /** The wire filter; null for every document. */
    readonly filter: Filter | null,
    readonly matches: (doc: JsonObject) => boolean,
  ) {}

  /** The subscription as `sub` asks for it and `hello` resumes it. */
  spec(): SubscriptionSpec {
    return { sub: this.name, collection: this.collection, filter: this.filter };
  }
}

/** A write the server has not confirmed yet: kept, in order, until it is acknowledged and its changes are seen. */
export class PendingWrite {
  readonly completion = new Deferred<WriteAck>();
  /** Set when acknowledged; the write then stays in the local view until the stream passes its seq. */
  ack: WriteAck | undefined;
  /** Documents (`collection\nid`) whose own change frame (carrying this write's mid) has arrived. */
  readonly seen = new Set<string>();
  /** The connection it was last sent on, and when (ms); undefined when not in flight. */
  sentOn: object | undefined;
  sentAt = 0;
  /** In the store (so it may go on the wire). */
  persisted = false;
  /** Waiting out a backoff after a transient refusal. */
  holding = false;
  transientFailures = 0;

  constructor(
    /** 0 until numbered (a write made before the store was read). */
    public mid: number,
    /** The `mut` or `call`, without its number and request id. */
    readonly write: WriteRequest,
    /** The ops, for the optimistic local view (empty for mutator calls). */
    readonly ops: readonly WriteOp[],
  ) {}

  /** True when op `index` is already part of the confirmed document at `confirmedVersion`. */
  isReflected(index: number, confirmedVersion: number): boolean {
    const op = this.ops[index]!;
    if (this.seen.has(docKey(op.collection, op.id))) {
      return true;
    }
    const result = this.ack?.results[index];
    return result !== undefined && confirmedVersion >= result.version;
  }
}

export function docKey(collection: string, id: string): string {
  return `${collection}\n${id}`;
}

/** FNV-1a, 64 bits, as 16 hex digits: a stable name for a (collection, filter) pair. */
export function stableHash(text: string): string {
  let hash = 0xcbf29ce484222325n;
  const prime = 0x100000001b3n;
  for (const byte of new TextEncoder().encode(text)) {
    hash ^= BigInt(byte);
    hash = (hash * prime) & 0xffffffffffffffffn;
  }
  return hash.toString(16).padStart(16, "0");
}

/** The collection and id of a {@link docKey}. */
export function splitKey(key: string): [string, string] {
  const at = key.indexOf("\n");
  return [key.slice(0, at), key.slice(at + 1)];
}
