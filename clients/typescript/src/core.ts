import type { Connection, WebSocketConstructor } from "./connection.js";
import { ClientDisposedError } from "./errors.js";
import type { Filter } from "./filter.js";
import { Deferred, EventDispatcher, docKey, splitKey, withSignal, type CollectionState, type Logger, type SubscriptionState } from "./internal.js";
import { cloneJson } from "./json.js";
import { Dialer, startHeartbeat } from "./dialer.js";
import { LocalView } from "./local-view.js";
import type { Encoding } from "./protocol/codec.js";
import type { DecodedFrame, ErrorFrame, HelloFrame, WriteRequest } from "./protocol/frames.js";
import { backoffDelay } from "./retry.js";
import type { ClientStore, StoredDoc, StoredState } from "./store.js";
import { SubscriptionSet } from "./subscriptions.js";
import type { ConnectionState, WriteAck } from "./types.js";
import { midOf, WriteQueue } from "./write-queue.js";
import type { WriteOp } from "./write-op.js";

const FLUSH_INTERVAL_MS = 100;

/** The settings the core runs with (LockstepClientOptions with its defaults applied). */
export interface CoreSettings {
  readonly urls: readonly string[];
  readonly clientId: string | undefined;
  readonly store: ClientStore;
  readonly webSocket: WebSocketConstructor;
  readonly encoding: Encoding;
  readonly tokenProvider: ((signal: AbortSignal) => string | null | undefined | Promise<string | null | undefined>) | undefined;
  readonly heartbeatIntervalMs: number | undefined;
  readonly requestTimeoutMs: number;
  readonly reconnectBaseDelayMs: number;
  readonly reconnectMaxDelayMs: number;
  readonly circuitBreakerFailures: number;
  readonly circuitBreakDurationMs: number;
  readonly logger: Logger | undefined;
  readonly now: () => number;
}

/**
 * The client's engine, behind the {@link LockstepClient} facade: it owns the connection loop, the
 * stream position and the store, and routes the server's frames to the parts that keep the state —
 * the local view ({@link LocalView}), the queue of unconfirmed writes ({@link WriteQueue}) and the
 * subscriptions ({@link SubscriptionSet}). Single-threaded: every step runs to completion on the
 * event loop; callbacks run after the step, through the dispatcher.
 */
export class ClientCore {
  readonly events: EventDispatcher;
  private readonly view: LocalView;
  private readonly writes: WriteQueue;
  private readonly subs: SubscriptionSet;
  private readonly dialer: Dialer;
  private readonly stateHandlers = new Set<(state: ConnectionState) => void>();
  private readonly stopping = new AbortController();
  private cursorDirty = false;
  private online = new Deferred<void>();
  private connection: Connection | undefined;
  private loop: Promise<void> | undefined;
  private flushTimer: ReturnType<typeof setInterval> | undefined;
  private restoreDone: Promise<void>;
  private restored = false;
  private failure: unknown;
  private cursorValue = 0;
  private forceFresh = false;
  private disposed = false;
  private stateValue: ConnectionState = "offline";
  private clientIdValue: string;

  constructor(private readonly settings: CoreSettings) {
    this.events = new EventDispatcher(settings.logger);
    this.view = new LocalView(() => this.writes.all);
    const common = {
      view: this.view,
      connection: () => this.connection,
      cursor: () => this.cursorValue,
      backoff: (attempt: number) => this.backoff(attempt),
      log: (level: "error" | "warn", message: string, detail?: unknown) => this.log(level, message, detail),
    };
    this.writes = new WriteQueue({ ...common, store: settings.store, now: settings.now, stopping: this.stopping.signal });
    this.subs = new SubscriptionSet({ ...common, writes: this.writes, advanceCursor: (seq, reset) => this.advanceCursor(seq, reset) });
    this.dialer = new Dialer(settings, {
      hello: (token) => this.buildHello(token),
      setState: (state) => this.setState(state),
      log: (level, message) => this.log(level, message),
    });
    this.clientIdValue = settings.clientId ?? newClientId();
    const opened = settings.store.open();
    if (isPromise(opened)) {
      // Writes and subscriptions made before the store is read are merged in when it is.
      this.restoreDone = opened.then((state) => this.restore(state)).catch((error: unknown) => this.fail(error));
    } else {
      this.restore(opened);
      this.restoreDone = Promise.resolve();
    }
  }

  get clientId(): string {
    return this.clientIdValue;
  }

  get state(): ConnectionState {
    return this.stateValue;
  }

  get cursor(): number {
    return this.cursorValue;
  }

  get connectedUrl(): string | undefined {
    return this.connection?.url;
  }

  get pendingCount(): number {
    return this.writes.unconfirmedCount;
  }

  /** Completes once the store has been read (at once for a synchronous store). */
  whenRestored(): Promise<void> {
    return this.restoreDone;
  }

  onStateChange(handler: (state: ConnectionState) => void): () => void {
    this.stateHandlers.add(handler);
    return () => this.stateHandlers.delete(handler);
  }

  start(): void {
    this.throwIfUnusable();
    if (this.loop === undefined) {
      this.setState("connecting");
      this.loop = this.run();
      this.flushTimer = setInterval(() => void this.flush(), FLUSH_INTERVAL_MS);
    }
  }

  waitOnline(signal?: AbortSignal): Promise<void> {
    return withSignal(this.online.promise, signal);
  }

  async waitForPending(signal?: AbortSignal): Promise<void> {
    await withSignal(this.writes.whenConfirmed(), signal);
  }

  collectionState(name: string): CollectionState {
    return this.view.collection(name);
  }

  /** Queues a `mut` (ops) or `call`; the promise settles when the server acknowledges or refuses it. */
  enqueue(write: WriteRequest, ops: readonly WriteOp[], signal: AbortSignal | undefined): Promise<WriteAck> {
    if (this.disposed) {
      return rejected(new ClientDisposedError());
    }
    if (this.failure !== undefined) {
      return rejected(this.failure);
    }
    if (signal?.aborted === true) {
      return rejected(signal.reason);
    }
    const pending = this.writes.add(write, ops);
    // The write stays queued if the caller stops waiting: the signal only stops the wait.
    return withSignal(pending.completion.promise, signal);
  }

  /**
   * Joins (or starts) the subscription for a collection and filter. Equal filters on one collection
   * share one server subscription, named after them, so a restarted client finds its cached one again.
   */
  subscribe(collection: string, filter: Filter | null | undefined): SubscriptionState {
    this.throwIfUnusable();
    return this.subs.subscribe(collection, filter);
  }

  unsubscribe(sub: SubscriptionState): void {
    this.subs.unsubscribe(sub);
  }

  /** Moves the stream position forward and settles the acknowledged writes it passes. */
  private advanceCursor(seq: number, reset = false): void {
    if (seq <= this.cursorValue && !reset) {
      return;
    }
    this.cursorValue = seq;
    this.cursorDirty = true;
    this.writes.settleThrough(this.cursorValue);
  }

  // ---- frames -------------------------------------------------------------------------------

  /** Applies one frame from the server. False asks for the connection to be dropped and resynchronized. */
  private handleFrame(frame: DecodedFrame): boolean {
    switch (frame.type) {
      case "snapshot":
        this.subs.onSnapshot(frame);
        return true;
      case "subscribed":
        this.subs.onSubscribed(frame);
        return true;
      case "chg":
        return this.subs.onChange(frame);
      case "removed":
        this.subs.onRemoved(frame);
        return true;
      case "pos":
        this.advanceCursor(frame.seq);
        return true;
      case "ack": {
        const mid = midOf(frame.id);
        if (mid !== undefined) {
          this.writes.onAck(mid, frame);
        }
        return true;
      }
      case "error":
        this.onError(frame);
        return true;
      default:
        // pong, ok, and frame types of later protocol versions.
        return true;
    }
  }

  private onError(frame: ErrorFrame): void {
    const mid = midOf(frame.id);
    if (mid !== undefined) {
      this.writes.onError(mid, frame);
    } else if (!this.subs.onRefused(frame)) {
      this.log("warn", `lockstep: server error ${frame.code}: ${frame.message}`);
    }
  }

  // ---- connection ---------------------------------------------------------------------------

  private async run(): Promise<void> {
    await this.restoreDone;
    const stop = this.stopping.signal;
    while (!stop.aborted && this.failure === undefined) {
      const connection = await this.dialer.connect(stop);
      if (connection === undefined) {
        return;
      }
      await this.runConnection(connection);
    }
  }

  private buildHello(token: string | undefined): HelloFrame {
    if (this.forceFresh) {
      this.forceFresh = false;
      this.subs.forgetEstablished();
    }
    const resumed = this.subs.established();
    return {
      type: "hello",
      id: "h",
      clientId: this.clientIdValue,
      protocol: 1,
      ...(token === undefined ? {} : { token }),
      ...(resumed.length === 0 ? {} : { cursor: this.cursorValue, subs: resumed.map((s) => s.spec()) }),
    };
  }

  private runConnection(connection: Connection): Promise<void> {
    const ended = new Deferred<void>();
    this.connection = connection;
    this.subs.requestAll();
    // Replayed in their original order with their original numbers: the server answers each one it
    // already applied with its original result.
    this.writes.sendAll();
    this.setState("online");
    this.log("info", `lockstep: connected to ${connection.url} (${connection.encoding}, head ${connection.welcome.head}, resumable ${String(connection.welcome.resumable)})`);
    const heartbeat = startHeartbeat(connection, this.settings.heartbeatIntervalMs, this.settings.requestTimeoutMs, this.settings.now, () => this.writes.inFlightSince(connection));
    const onStop = (): void => connection.abort("stopped");
    this.stopping.signal.addEventListener("abort", onStop, { once: true });
    connection.start(
      (frame) => {
        let inStep: boolean;
        try {
          inStep = this.handleFrame(frame);
        } catch (error) {
          this.log("error", "lockstep: a frame could not be applied", error);
          inStep = false;
        }
        if (!inStep) {
          this.forceFresh = true;
          connection.abort("resynchronizing");
        }
      },
      (reason) => {
        clearInterval(heartbeat);
        this.stopping.signal.removeEventListener("abort", onStop);
        if (!this.stopping.signal.aborted) {
          this.log("info", `lockstep: disconnected from ${connection.url}: ${reason}`);
        }
        if (this.connection === connection) {
          this.connection = undefined;
        }
        this.writes.connectionEnded(connection);
        this.subs.connectionEnded();
        if (!this.stopping.signal.aborted) {
          this.setState("connecting");
        }
        ended.resolve();
      },
    );
    return ended.promise;
  }

  private backoff(attempt: number): number {
    return backoffDelay(attempt, this.settings.reconnectBaseDelayMs, this.settings.reconnectMaxDelayMs);
  }

  private setState(state: ConnectionState): void {
    if (this.stateValue === state || this.stateValue === "closed") {
      return;
    }
    this.stateValue = state;
    if (state === "online") {
      this.online.resolve();
    } else if (this.online.settled) {
      this.online = new Deferred<void>();
    }
    for (const handler of [...this.stateHandlers]) {
      this.events.post(() => handler(state));
    }
  }

  // ---- store --------------------------------------------------------------------------------

  private restore(state: StoredState): void {
    const storedId = state.meta["clientId"];
    const configured = this.settings.clientId;
    if (configured !== undefined && storedId !== undefined && storedId !== configured) {
      throw new Error(`The store belongs to client '${storedId}', not '${configured}'; give each client id its own store.`);
    }
    this.clientIdValue = storedId ?? configured ?? this.clientIdValue;
    if (storedId === undefined) {
      void guard(() => this.settings.store.setMeta("clientId", this.clientIdValue), (error) => this.log("error", "lockstep: could not save the client id", error));
    }
    this.cursorValue = Number(state.meta["cursor"] ?? 0);

    this.subs.restore(state.subs);
    for (const doc of state.docs) {
      const collection = this.view.collection(doc.collection);
      const subs = doc.subs.filter((name) => this.subs.has(name));
      if (subs.length > 0) {
        collection.confirmed.set(doc.id, { version: doc.version, body: doc.body === null ? null : cloneJson(doc.body), subs: new Set(subs) });
      }
    }
    // Restored writes are older than any made before the store was read: they go first.
    this.writes.restore(state.meta["midReserved"], state.pending);
    this.restored = true;
    const touched = new Set<string>();
    for (const collection of this.view.all()) {
      for (const id of collection.confirmed.keys()) {
        touched.add(docKey(collection.name, id));
      }
    }
    for (const pending of this.writes.all) {
      for (const op of pending.ops) {
        touched.add(docKey(op.collection, op.id));
      }
    }
    this.view.touchKeys(touched);
  }

  /** The store could not be read: the client cannot keep its promises, so it refuses to work. */
  private fail(error: unknown): void {
    this.failure = error;
    this.log("error", "lockstep: the store could not be opened", error);
    this.writes.failAll(error);
    this.setState("closed");
    if (!this.online.settled) {
      this.online.reject(error);
    }
  }

  /** Writes what changed since the last flush, with the cursor, in one batch. */
  private async flush(): Promise<void> {
    const dirtyDocs = this.view.dirtyDocs;
    if (!this.restored || (dirtyDocs.size === 0 && this.subs.dirty.size === 0 && this.subs.removed.size === 0 && !this.cursorDirty)) {
      return;
    }
    const upserts: StoredDoc[] = [];
    const deletes: { collection: string; id: string }[] = [];
    for (const key of dirtyDocs) {
      const [collection, id] = splitKey(key);
      const cached = this.view.existing(collection)?.confirmed.get(id);
      if (cached !== undefined && cached.subs.size > 0) {
        upserts.push({ collection, id, version: cached.version, body: cached.body === null ? null : cloneJson(cached.body), subs: [...cached.subs] });
      } else {
        deletes.push({ collection, id });
      }
    }
    const batch = { cursor: this.cursorValue, upserts, deletes, subs: this.subs.toStore(this.subs.dirty), removedSubs: [...this.subs.removed] };
    dirtyDocs.clear();
    this.subs.dirty.clear();
    this.subs.removed.clear();
    this.cursorDirty = false;
    await guard(() => this.settings.store.flush(batch), (error) => this.log("error", "lockstep: could not save the cache", error));
  }

  // ---- lifetime -----------------------------------------------------------------------------

  private throwIfUnusable(): void {
    if (this.disposed) {
      throw new ClientDisposedError();
    }
    if (this.failure !== undefined) {
      throw this.failure;
    }
  }

  /** Disconnects, saves the store and releases it. Unconfirmed writes stay in the store for the next client that opens it. */
  async dispose(): Promise<void> {
    if (this.disposed) {
      return;
    }
    this.disposed = true;
    this.stopping.abort(new ClientDisposedError());
    this.connection?.abort("stopped");
    await this.loop?.catch(() => undefined);
    clearInterval(this.flushTimer);
    this.setState("closed");
    if (!this.online.settled) {
      this.online.reject(new ClientDisposedError());
    }
    this.writes.abandon(new ClientDisposedError("The client was disposed before the write was confirmed; it stays queued in the store."));
    await this.restoreDone.catch(() => undefined);
    if (this.failure === undefined) {
      await this.flush();
      // Writes still being saved finish first, so the next client finds them.
      await this.writes.saved();
      await guard(() => this.settings.store.close(), (error) => this.log("error", "lockstep: could not close the store", error));
    }
    this.subs.abandon(new ClientDisposedError());
  }

  private log(level: "debug" | "info" | "warn" | "error", message: string, detail?: unknown): void {
    const logger = this.settings.logger;
    if (logger === undefined) {
      return;
    }
    if (detail === undefined) {
      logger[level]?.(message);
    } else {
      logger[level]?.(message, detail);
    }
  }
}

function isPromise<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown } | null)?.then === "function";
}

function rejected<T>(error: unknown): Promise<T> {
  const promise = Promise.reject(error) as Promise<T>;
  promise.catch(() => undefined);
  return promise;
}

/** Runs a store call that may be synchronous or not, reporting a failure instead of throwing it. */
async function guard(call: () => void | Promise<void>, onError: (error: unknown) => void): Promise<void> {
  try {
    await call();
  } catch (error) {
    onError(error);
  }
}

function newClientId(): string {
  const bytes = new Uint8Array(16);
  globalThis.crypto.getRandomValues(bytes);
  return `c-${Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")}`;
}
