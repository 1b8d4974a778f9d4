import { LockstepCollection } from "./collection.js";
import type { WebSocketConstructor } from "./connection.js";
import { ClientCore } from "./core.js";
import { IndexedDbStore } from "./indexeddb-store.js";
import type { Logger } from "./internal.js";
import { Names, type JsonObject, type JsonValue } from "./json.js";
import { MemoryStore, type ClientStore } from "./store.js";
import type { Encoding } from "./protocol/codec.js";
import type { WriteRequest } from "./protocol/frames.js";
import type { ConnectionState, WriteAck } from "./types.js";
import type { WriteOp } from "./write-op.js";

/** Options of a {@link LockstepClient}; read once, when it is made. Defaults mirror the .NET client's. */
export interface LockstepClientOptions {
  /** The servers' sync endpoints (`ws://host:port/v1/sync`), tried in order; the client fails over from one to the next. Required. */
  readonly urls: readonly string[];
  /** This client installation's id; it keys the exactly-once numbering of writes. Default: the id kept in the store, or a new random one saved there. */
  readonly clientId?: string | undefined;
  /**
   * Where the id, the cursor, the cache and the queue of unconfirmed writes are kept. Default: an
   * {@link IndexedDbStore} where IndexedDB exists (browsers), else a new {@link MemoryStore}
   * (then a restart of the process loses the queue; pass a store to keep it).
   */
  readonly store?: ClientStore | undefined;
  /** The WebSocket class. Default: the global `WebSocket` (browsers); in Node 20 pass `WebSocket` from the `ws` package. */
  readonly webSocket?: WebSocketConstructor | undefined;
  /**
   * How frames are spelt on the wire: `"json"` (text frames) or `"msgpack"` (binary MessagePack
   * frames, smaller and quicker to read). The client offers the matching WebSocket subprotocol,
   * `lockstep.v1.json` or `lockstep.v1.msgpack`; a server that does not answer with it is not
   * connected to (docs/protocol.md §11). Default: `"json"`.
   */
  readonly encoding?: Encoding | undefined;
  /** Supplies the token sent in `hello`, asked anew at every connection. Default: none. */
  readonly tokenProvider?: ((signal: AbortSignal) => string | null | undefined | Promise<string | null | undefined>) | undefined;
  /** How often to send a `ping`; a connection that receives nothing for two intervals is treated as dead. Default: the server's (`welcome.heartbeatMs`, 15 s). */
  readonly heartbeatIntervalMs?: number | undefined;
  /** How long connecting + hello, and a write's acknowledgement on a live connection, may take before the connection is replaced. Default: 30,000 ms. */
  readonly requestTimeoutMs?: number | undefined;
  /** The first delay between reconnection attempts; it doubles up to the maximum, with full jitter. Default: 200 ms. */
  readonly reconnectBaseDelayMs?: number | undefined;
  /** The longest delay between reconnection attempts. Default: 10,000 ms. */
  readonly reconnectMaxDelayMs?: number | undefined;
  /** After this many failed connection attempts in a row to one URL, it is skipped for the break duration. Default: 5. */
  readonly circuitBreakerFailures?: number | undefined;
  /** How long an open circuit keeps a URL out of rotation before one trial attempt (half-open). Default: 10,000 ms. */
  readonly circuitBreakDurationMs?: number | undefined;
  /** Logging (`console` fits). Default: none. */
  readonly logger?: Logger | undefined;
}

/** Options of a batch or a mutator call. */
export interface MutateOptions {
  /** Stops waiting (the promise rejects with the signal's reason); the write stays queued and takes effect once. */
  readonly signal?: AbortSignal | undefined;
}

/**
 * A connection to Lockstep that keeps a live local view of the collections it subscribes to and
 * queues every write with a mutation number, so that whatever the network does each write takes
 * effect exactly once. Reconnects with exponential backoff, full jitter and a circuit breaker per
 * URL, fails over across {@link LockstepClientOptions.urls}, and resumes its subscriptions from its
 * cursor. The same shape as the .NET client (docs/client-dotnet.md).
 *
 * Every write's promise may be left unawaited: a refusal is then only logged. Writes made before
 * {@link start} wait in the queue.
 */
export class LockstepClient {
  readonly #core: ClientCore;
  readonly #collections = new Map<string, LockstepCollection<object>>();

  constructor(options: LockstepClientOptions) {
    this.#core = new ClientCore(resolveOptions(options));
  }

  /** This client's id (see {@link LockstepClientOptions.clientId}); with an asynchronous store, final once {@link restored} resolves. */
  get clientId(): string {
    return this.#core.clientId;
  }

  /** The connection's state. */
  get state(): ConnectionState {
    return this.#core.state;
  }

  /** Writes not yet acknowledged by the server (queued offline, or in flight). */
  get pendingCount(): number {
    return this.#core.pendingCount;
  }

  /** The last log position this client has fully applied. */
  get cursor(): number {
    return this.#core.cursor;
  }

  /** The server this client is connected to, or undefined. */
  get connectedUrl(): string | undefined {
    return this.#core.connectedUrl;
  }

  /** Calls `handler` with each new {@link state}, in order. Returns a function that stops it. */
  onStateChange(handler: (state: ConnectionState) => void): () => void {
    return this.#core.onStateChange(handler);
  }

  /**
   * Starts connecting in the background (the client keeps trying until disposed) and returns a
   * promise that resolves once it is online. The promise may be ignored; it rejects only when the
   * signal aborts or the client is disposed first.
   */
  start(signal?: AbortSignal): Promise<void> {
    this.#core.start();
    return this.#core.waitOnline(signal);
  }

  /** Resolves when the client is online. */
  waitOnline(signal?: AbortSignal): Promise<void> {
    return this.#core.waitOnline(signal);
  }

  /** Resolves when every write queued so far has been acknowledged or refused. */
  waitForPending(signal?: AbortSignal): Promise<void> {
    return this.#core.waitForPending(signal);
  }

  /** Resolves once the store has been read: the cached view and the queued writes are in (at once with a {@link MemoryStore}). */
  restored(): Promise<void> {
    return this.#core.whenRestored();
  }

  /** A collection; `T` is the documents' shape (unchecked: documents are JSON objects). Throws a TypeError for an invalid name. */
  collection<T extends object = JsonObject>(name: string): LockstepCollection<T> {
    if (!Names.isValidCollection(name)) {
      throw new TypeError(`'${String(name)}' is not a valid collection name.`);
    }
    let collection = this.#collections.get(name);
    if (collection === undefined) {
      collection = new LockstepCollection<object>(this.#core, name);
      this.#collections.set(name, collection);
    }
    return collection as unknown as LockstepCollection<T>;
  }

  /** Applies several ops atomically (all or none); build them with {@link WriteOp.put} and friends. */
  mutate(ops: readonly WriteOp[], options?: MutateOptions): Promise<WriteAck>;
  /** Calls a server-side mutator (the same as {@link call}). */
  mutate(name: string, args?: JsonValue, options?: MutateOptions): Promise<WriteAck>;
  mutate(opsOrName: readonly WriteOp[] | string, argsOrOptions?: JsonValue | MutateOptions, options?: MutateOptions): Promise<WriteAck> {
    if (typeof opsOrName === "string") {
      return this.call(opsOrName, argsOrOptions as JsonValue | undefined, options);
    }
    if (!Array.isArray(opsOrName) || opsOrName.length === 0) {
      throw new TypeError("A mutation needs at least one op.");
    }
    const ops = opsOrName.map((op) => ({ ...op }));
    const signal = (argsOrOptions as MutateOptions | undefined)?.signal;
    return this.#core.enqueue({ type: "mut", ops }, ops, signal);
  }

  /**
   * Calls a server-side mutator; queued like any write and applied exactly once. It has no
   * optimistic effect (the client cannot know what the function will do): its changes arrive like
   * any other. A refusal rejects with a {@link MutationRejectedError} carrying the mutator's reason.
   */
  call(name: string, args?: JsonValue, options: MutateOptions = {}): Promise<WriteAck> {
    if (typeof name !== "string" || name.length === 0) {
      throw new TypeError("A mutator call needs a name.");
    }
    const write: WriteRequest = args === undefined ? { type: "call", name } : { type: "call", name, args: JSON.parse(JSON.stringify(args)) as JsonValue };
    return this.#core.enqueue(write, [], options.signal);
  }

  /** Disconnects, saves the store and releases it. Unconfirmed writes stay in the store and are replayed by the next client that opens it. */
  dispose(): Promise<void> {
    return this.#core.dispose();
  }
}

function resolveOptions(options: LockstepClientOptions): ConstructorParameters<typeof ClientCore>[0] {
  if (!Array.isArray(options.urls) || options.urls.length === 0) {
    throw new TypeError("Give at least one server URL.");
  }
  for (const url of options.urls) {
    if (typeof url !== "string" || !/^wss?:\/\/[^/]/i.test(url)) {
      throw new TypeError(`'${String(url)}' is not a ws:// or wss:// URL.`);
    }
  }
  if (options.clientId !== undefined && (!Names.isValidId(options.clientId) || options.clientId.length > 128)) {
    throw new TypeError(`'${options.clientId}' is not a valid client id (1–128 characters, no control characters, no '/').`);
  }
  const positive = (name: string, value: number | undefined, fallback: number): number => {
    if (value === undefined) {
      return fallback;
    }
    if (!Number.isFinite(value) || value <= 0) {
      throw new TypeError(`${name} must be a positive number of milliseconds.`);
    }
    return value;
  };
  const reconnectBaseDelayMs = positive("reconnectBaseDelayMs", options.reconnectBaseDelayMs, 200);
  const reconnectMaxDelayMs = positive("reconnectMaxDelayMs", options.reconnectMaxDelayMs, 10_000);
  if (reconnectMaxDelayMs < reconnectBaseDelayMs) {
    throw new TypeError("reconnectMaxDelayMs must be at least reconnectBaseDelayMs.");
  }
  const circuitBreakerFailures = options.circuitBreakerFailures ?? 5;
  const circuitBreakDurationMs = options.circuitBreakDurationMs ?? 10_000;
  if (!Number.isInteger(circuitBreakerFailures) || circuitBreakerFailures < 2 || circuitBreakDurationMs < 500) {
    throw new TypeError("circuitBreakerFailures must be at least 2 and circuitBreakDurationMs at least 500.");
  }
  const webSocket = options.webSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (webSocket === undefined) {
    throw new TypeError("There is no global WebSocket here (Node 20): pass one, for example `webSocket: WebSocket` from the ws package.");
  }
  const encoding = options.encoding ?? "json";
  if (encoding !== "json" && encoding !== "msgpack") {
    throw new TypeError(`encoding must be "json" or "msgpack", not '${String(encoding)}'.`);
  }
  const hasIndexedDb = (globalThis as { indexedDB?: unknown }).indexedDB !== undefined;
  return {
    urls: [...options.urls],
    clientId: options.clientId,
    store: options.store ?? (hasIndexedDb ? new IndexedDbStore() : new MemoryStore()),
    webSocket,
    encoding,
    tokenProvider: options.tokenProvider,
    heartbeatIntervalMs: options.heartbeatIntervalMs === undefined ? undefined : positive("heartbeatIntervalMs", options.heartbeatIntervalMs, 15_000),
    requestTimeoutMs: positive("requestTimeoutMs", options.requestTimeoutMs, 30_000),
    reconnectBaseDelayMs,
    reconnectMaxDelayMs,
    circuitBreakerFailures,
    circuitBreakDurationMs,
    logger: options.logger,
    now: () => Date.now(),
  };
}
