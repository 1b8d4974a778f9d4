import type { Connection, WebSocketConstructor } from "./connection.js";
import { ClientDisposedError, LockstepError } from "./errors.js";
import { compileFilter, type Filter } from "./filter.js";
import {
  CollectionState,
  Deferred,
  EventDispatcher,
  PendingWrite,
  SubscriptionState,
  delay,
  docKey,
  stableHash,
  withSignal,
  type CachedDoc,
  type Logger,
} from "./internal.js";
import { applyDelta, cloneJson, jsonEquals, type JsonObject } from "./json.js";
import { Dialer, startHeartbeat } from "./dialer.js";
import { backoffDelay } from "./retry.js";
import type { ClientStore, StoredDoc, StoredState, StoredSub } from "./store.js";
import { MalformedFrameError, messageBytes, type Encoding } from "./protocol/codec.js";
import type { AckFrame, ChangeFrame, DecodedFrame, ErrorFrame, HelloFrame, RemovedFrame, RequestId, SnapshotFrame, WriteRequest } from "./protocol/frames.js";
import { writeFromStored, writeToStored } from "./protocol/json-codec.js";
import { writeAckFromFrame, type ConnectionState, type RemoteUpdate, type WriteAck } from "./types.js";
import { applyOp, type WriteOp } from "./write-op.js";

/** Mutation numbers are reserved in blocks, so a restart never reuses one and a write costs no extra store update. */
const MID_BLOCK = 10_000;
const MAX_TRANSIENT_RETRIES = 10;
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
 * The client's engine: the confirmed state of each collection, the queue of unconfirmed writes, the
 * local view (confirmed + pending, recomputed after every server change), subscriptions, the
 * connection loop and the store. Single-threaded: every step runs to completion on the event loop;
 * callbacks run after the step, through the dispatcher.
 */
export class ClientCore {
  readonly events: EventDispatcher;
  private readonly collections = new Map<string, CollectionState>();
  private readonly subs = new Map<string, SubscriptionState>();
  private readonly pending: PendingWrite[] = [];
  private readonly pendingByMid = new Map<number, PendingWrite>();
  private readonly dialer: Dialer;
  private readonly stateHandlers = new Set<(state: ConnectionState) => void>();
  private readonly stopping = new AbortController();
  private readonly dirtyDocs = new Set<string>();
  private readonly dirtySubs = new Set<string>();
  private readonly removedSubs = new Set<string>();
  /** Writes being handed to the store. */
  private readonly saving = new Set<Promise<void>>();
  private cursorDirty = false;
  private online = new Deferred<void>();
  private connection: Connection | undefined;
  private loop: Promise<void> | undefined;
  private flushTimer: ReturnType<typeof setInterval> | undefined;
  private restoreDone: Promise<void>;
  private restored = false;
  private failure: unknown;
  private cursorValue = 0;
  private nextMid = 0;
  private midReserved = 0;
  private reservation: Promise<void> = Promise.resolve();
  private forceFresh = false;
  private disposed = false;
  private stateValue: ConnectionState = "offline";
  private clientIdValue: string;

  constructor(private readonly settings: CoreSettings) {
    this.events = new EventDispatcher(settings.logger);
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
    return this.pending.filter((p) => p.ack === undefined).length;
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
    const waits = this.pending.filter((p) => p.ack === undefined).map((p) => p.completion.promise.catch(() => undefined));
    await withSignal(Promise.all(waits), signal);
  }

  collectionState(name: string): CollectionState {
    let state = this.collections.get(name);
    if (state === undefined) {
      state = new CollectionState(name);
      this.collections.set(name, state);
    }
    return state;
  }

  // ---- writes -------------------------------------------------------------------------------

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
    const pending = new PendingWrite(0, write, ops);
    this.pending.push(pending);
    if (this.restored) {
      this.number(pending);
    }
    for (const key of new Set(ops.map((o) => docKey(o.collection, o.id)))) {
      const [collection, id] = splitKey(key);
      this.touch(this.collectionState(collection), id, undefined);
    }
    // The write stays queued if the caller stops waiting: the signal only stops the wait.
    return withSignal(pending.completion.promise, signal);
  }

  /**
   * Gives a write its mutation number and hands it to the store before the call that made it
   * returns (a synchronous store has it by then; an asynchronous one has the request, in order).
   * It goes on the wire once the store has confirmed it, and the block reservation of its number.
   */
  private number(pending: PendingWrite): void {
    pending.mid = this.takeMid();
    this.pendingByMid.set(pending.mid, pending);
    const reservation = this.reservation;
    const saved = (async () => {
      const added = this.settings.store.addPending({ mid: pending.mid, frame: writeToStored({ ...pending.write, mid: pending.mid }) });
      await Promise.all([reservation, added]);
    })();
    this.saving.add(saved);
    saved.then(
      () => {
        this.saving.delete(saved);
        pending.persisted = true;
        this.sendWrites();
      },
      (error: unknown) => {
        this.saving.delete(saved);
        // Not saved, so not sent: refuse it, as nothing can promise it survives a restart.
        this.log("error", `lockstep: could not save write ${pending.mid}`, error);
        this.refuse(pending, error);
      },
    );
  }

  private takeMid(): number {
    this.nextMid++;
    if (this.nextMid >= this.midReserved) {
      this.midReserved = this.nextMid + MID_BLOCK;
      const reserved = String(this.midReserved);
      const previous = this.reservation;
      // Asked of the store at once, so it is ahead of the write that uses the number.
      const saving = (async () => this.settings.store.setMeta("midReserved", reserved))();
      this.reservation = Promise.all([previous, saving]).then(() => undefined);
      this.reservation.catch(() => undefined);
    }
    return this.nextMid;
  }

  /** Sends, in order, every saved write not yet in flight on the current connection. */
  private sendWrites(): void {
    const connection = this.connection;
    if (connection === undefined) {
      return;
    }
    const limit = connection.welcome.maxFrameBytes;
    for (const pending of [...this.pending]) {
      if (pending.ack !== undefined || pending.holding || pending.sentOn === connection) {
        continue;
      }
      if (!pending.persisted) {
        // Later writes wait for it: writes go out in the order they were made.
        break;
      }
      let data: string | Uint8Array;
      try {
        data = connection.encode({ ...pending.write, mid: pending.mid, id: writeRequestId(pending.mid) });
      } catch (error) {
        if (!(error instanceof MalformedFrameError)) {
          throw error;
        }
        // What JSON would send and the server refuse as not text (a lone surrogate), MessagePack cannot spell at all.
        this.refuse(pending, new LockstepError("bad_frame", error.message));
        continue;
      }
      const size = messageBytes(data);
      if (limit > 0 && size > limit) {
        // The server would close the connection without saying which request was too large, and a
        // replay would do it again on every reconnect: refuse it here, with the server's code.
        this.refuse(pending, new LockstepError("frame_too_large", `The write is ${size} bytes; the server takes frames of at most ${limit} bytes. Split it.`));
        continue;
      }
      pending.sentOn = connection;
      pending.sentAt = this.settings.now();
      connection.sendEncoded(data);
    }
  }

  /** The local view of one document: the confirmed state with every unconfirmed op on top, in order. */
  private computeLocal(collection: CollectionState, id: string): { doc: JsonObject | null; version: number } {
    const cached = collection.confirmed.get(id);
    const version = cached?.version ?? 0;
    let doc = cached?.body ?? null;
    for (const pending of this.pending) {
      pending.ops.forEach((op, i) => {
        if (op.id === id && op.collection === collection.name && !pending.isReflected(i, version)) {
          doc = applyOp(doc, op);
        }
      });
    }
    return { doc: doc === null ? null : cloneJson(doc), version };
  }

  /** Recomputes a document's local view and tells the collection's observers. */
  private touch(collection: CollectionState, id: string, remote: RemoteUpdate | undefined): void {
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

  private touchOps(pending: PendingWrite): void {
    for (const key of new Set(pending.ops.map((o) => docKey(o.collection, o.id)))) {
      const [collection, id] = splitKey(key);
      this.touch(this.collectionState(collection), id, undefined);
    }
  }

  private onAck(mid: number, frame: AckFrame): void {
    const pending = this.pendingByMid.get(mid);
    if (pending === undefined || pending.ack !== undefined) {
      return;
    }
    pending.sentOn = undefined;
    const ack = writeAckFromFrame(frame);
    this.removeFromStore(pending);
    pending.ack = ack;
    pending.completion.resolve(ack);
    const watched = pending.ops.some((o) => this.collectionState(o.collection).subscriptions > 0);
    if (!watched || this.cursorValue >= ack.seq) {
      this.settle(pending);
    } else {
      this.touchOps(pending);
    }
  }

  private onWriteError(mid: number, frame: ErrorFrame): void {
    const pending = this.pendingByMid.get(mid);
    if (pending === undefined || pending.ack !== undefined) {
      return;
    }
    pending.sentOn = undefined;
    const error = LockstepError.fromFrame(frame);
    // A transient refusal (overloaded, storage unavailable) was not recorded: the same mid may be sent again.
    if (error.transient && frame.duplicate !== true && pending.transientFailures < MAX_TRANSIENT_RETRIES) {
      pending.transientFailures++;
      pending.holding = true;
      const wait = this.backoff(pending.transientFailures);
      this.log("warn", `lockstep: write ${mid} refused with ${error.code}; retrying in ${Math.round(wait)} ms`);
      void delay(wait, this.stopping.signal).then(() => {
        pending.holding = false;
        // Sent again with the same mid on whatever connection is current (none: when one comes).
        this.sendWrites();
      });
      return;
    }
    this.log("warn", `lockstep: write ${mid} refused: ${error.code}: ${error.message}`);
    this.refuse(pending, error);
  }

  /** Gives a write up: out of the store and the queue, the local view back to server truth, then the caller hears. */
  private refuse(pending: PendingWrite, error: unknown): void {
    this.removeFromStore(pending);
    this.dropPending(pending);
    this.touchOps(pending);
    pending.completion.reject(error);
  }

  private dropPending(pending: PendingWrite): void {
    const index = this.pending.indexOf(pending);
    if (index >= 0) {
      this.pending.splice(index, 1);
    }
    this.pendingByMid.delete(pending.mid);
  }

  private removeFromStore(pending: PendingWrite): void {
    void guard(() => this.settings.store.removePending(pending.mid), (error) =>
      // Harmless: a replay of it is answered with its original result.
      this.log("warn", "lockstep: could not remove a confirmed write from the store", error),
    );
  }

  /** Drops an acknowledged write whose changes the confirmed state now holds. */
  private settle(pending: PendingWrite): void {
    this.dropPending(pending);
    this.touchOps(pending);
  }

  /** Moves the stream position forward and settles the acknowledged writes it passes. */
  private advanceCursor(seq: number, reset = false): void {
    if (seq <= this.cursorValue && !reset) {
      return;
    }
    this.cursorValue = seq;
    this.cursorDirty = true;
    for (const pending of [...this.pending]) {
      if (pending.ack !== undefined && pending.ack.seq <= this.cursorValue) {
        this.settle(pending);
      }
    }
  }

  // ---- subscriptions ------------------------------------------------------------------------

  /**
   * Joins (or starts) the subscription for a collection and filter. Equal filters on one collection
   * share one server subscription, named after them, so a restarted client finds its cached one again.
   */
  subscribe(collection: string, filter: Filter | null | undefined): SubscriptionState {
    this.throwIfUnusable();
    const matches = compileFilter(filter);
    const wire = filter === undefined || filter === null || Object.keys(filter).length === 0 ? null : (cloneJson(filter) as Filter);
    const name = subscriptionName(collection, wire);
    let sub = this.subs.get(name);
    if (sub === undefined) {
      sub = new SubscriptionState(name, collection, wire, matches);
      this.subs.set(name, sub);
      this.removedSubs.delete(name);
      this.dirtySubs.add(name);
      this.collectionState(collection).subscriptions++;
      this.sendSubscribe(sub);
    }
    sub.refs++;
    return sub;
  }

  unsubscribe(sub: SubscriptionState): void {
    if (--sub.refs > 0 || this.subs.get(sub.name) !== sub) {
      return;
    }
    const connection = this.connection;
    connection?.send({ type: "unsub", id: connection.requestId("u"), sub: sub.name });
    this.removeSubscription(sub);
  }

  private sendSubscribe(sub: SubscriptionState): void {
    const connection = this.connection;
    if (connection === undefined || sub.requested) {
      return;
    }
    sub.requested = true;
    connection.send({ type: "sub", id: `s:${sub.name}`, ...sub.spec() });
  }

  private removeSubscription(sub: SubscriptionState): void {
    if (!this.subs.delete(sub.name)) {
      return;
    }
    this.dirtySubs.delete(sub.name);
    this.removedSubs.add(sub.name);
    const collection = this.collectionState(sub.collection);
    collection.subscriptions--;
    for (const [id, cached] of [...collection.confirmed]) {
      if (cached.subs.has(sub.name)) {
        this.leaveSubscription(collection, id, cached, sub.name, cached.version, this.cursorValue);
      }
    }
  }

  /** A document left one subscription; when no other holds it, it leaves the cache. */
  private leaveSubscription(collection: CollectionState, id: string, cached: CachedDoc, sub: string, version: number, seq: number): void {
    cached.subs.delete(sub);
    this.markDirty(collection.name, id);
    if (cached.subs.size === 0) {
      collection.confirmed.delete(id);
      this.touch(collection, id, remoteUpdate(collection.name, id, version, seq, "removed", {}, []));
    }
  }

  // ---- frames -------------------------------------------------------------------------------

  /** Applies one frame from the server. False asks for the connection to be dropped and resynchronized. */
  private handleFrame(frame: DecodedFrame): boolean {
    switch (frame.type) {
      case "snapshot":
        this.onSnapshot(frame);
        return true;
      case "subscribed": {
        const sub = this.subs.get(frame.sub);
        if (sub !== undefined) {
          sub.established = true;
          this.dirtySubs.add(sub.name);
          sub.ready.resolve();
        }
        this.advanceCursor(frame.seq);
        return true;
      }
      case "chg":
        return this.onChange(frame);
      case "removed":
        this.onRemoved(frame);
        return true;
      case "pos":
        this.advanceCursor(frame.seq);
        return true;
      case "ack": {
        const mid = midOf(frame.id);
        if (mid !== undefined) {
          this.onAck(mid, frame);
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
      this.onWriteError(mid, frame);
      return;
    }
    const id = frame.id;
    if (typeof id === "string" && id.startsWith("s:")) {
      const sub = this.subs.get(id.slice(2));
      const error = LockstepError.fromFrame(frame);
      if (sub !== undefined && error.transient) {
        // Refused for now (rate_limited, overloaded): asked again after a backoff on the same connection.
        const connection = this.connection;
        sub.requested = false;
        setTimeout(() => {
          if (this.connection === connection && this.subs.get(sub.name) === sub) {
            this.sendSubscribe(sub);
          }
        }, this.backoff(1));
        return;
      }
      if (sub !== undefined) {
        // A refused subscription (an invalid filter, later: forbidden) is given up; its queries' ready() rejects.
        this.removeSubscription(sub);
        sub.ready.reject(LockstepError.fromFrame(frame));
        return;
      }
    }
    this.log("warn", `lockstep: server error ${frame.code}: ${frame.message}`);
  }

  private onSnapshot(frame: SnapshotFrame): void {
    const sub = this.subs.get(frame.sub);
    if (sub === undefined) {
      return;
    }
    const collection = this.collectionState(sub.collection);
    const reset = frame.reset === true;
    const seq = frame.seq;
    sub.snapshotIds ??= new Set<string>();
    for (const entry of frame.docs) {
      const id = entry.id;
      const version = entry.version;
      sub.snapshotIds.add(id);
      let cached = collection.confirmed.get(id);
      const isNew = cached === undefined;
      if (cached === undefined) {
        cached = { version: 0, body: null, subs: new Set() };
        collection.confirmed.set(id, cached);
      }
      cached.subs.add(sub.name);
      this.markDirty(collection.name, id);
      // A reset replaces whatever was held: the server's data is the truth even when older (restored from a backup).
      if (isNew || version > cached.version || (reset && version !== cached.version)) {
        cached.version = version;
        cached.body = cloneJson(entry.doc);
        this.touch(collection, id, remoteUpdate(collection.name, id, version, seq, "entered", cloneJson(entry.doc), []));
      }
    }
    if (!frame.last) {
      return;
    }
    // What the subscription held and the snapshot no longer has has left it.
    for (const [id, cached] of [...collection.confirmed]) {
      if (cached.subs.has(sub.name) && !sub.snapshotIds.has(id)) {
        this.leaveSubscription(collection, id, cached, sub.name, cached.version, seq);
      }
    }
    sub.snapshotIds = undefined;
    sub.established = true;
    this.dirtySubs.add(sub.name);
    this.advanceCursor(seq, reset);
    sub.ready.resolve();
  }

  private onChange(frame: ChangeFrame): boolean {
    const seq = frame.seq;
    const sub = this.subs.get(frame.sub);
    if (sub === undefined || sub.snapshotIds !== undefined) {
      this.advanceCursor(seq);
      return true;
    }
    const collection = this.collectionState(sub.collection);
    const id = frame.id;
    const version = frame.version;
    const change = frame.change;
    // Only this client's own changes carry a mid; its pending write (if still held) is now part of the confirmed state.
    const own = frame.mid !== undefined;
    if (frame.mid !== undefined) {
      this.pendingByMid.get(frame.mid)?.seen.add(docKey(collection.name, id));
    }
    let cached = collection.confirmed.get(id);
    let update: RemoteUpdate | undefined;
    if (change.kind === "deleted") {
      if (cached !== undefined && version > cached.version) {
        collection.confirmed.delete(id);
        this.markDirty(collection.name, id);
        update = remoteUpdate(collection.name, id, version, seq, "deleted", {}, []);
      }
    } else if (change.kind === "entered") {
      if (cached === undefined) {
        cached = { version: 0, body: null, subs: new Set() };
        collection.confirmed.set(id, cached);
      }
      cached.subs.add(sub.name);
      this.markDirty(collection.name, id);
      if (version > cached.version || cached.body === null) {
        cached.version = version;
        cached.body = cloneJson(change.doc);
        update = remoteUpdate(collection.name, id, version, seq, "entered", cloneJson(change.doc), []);
      }
    } else {
      if (cached === undefined || cached.body === null || version > cached.version + 1) {
        // A delta for a version not held: something was missed. Start over from snapshots.
        this.log("warn", `lockstep: out of step on ${sub.name}: ${collection.name}/${id} ${cached === undefined ? "is not held" : `jumped from version ${cached.version} to ${version}`}; resynchronizing`);
        return false;
      }
      cached.subs.add(sub.name);
      if (version === cached.version + 1) {
        const set = change.set;
        const unset = change.unset ?? [];
        applyDelta(cached.body, set, unset);
        cached.version = version;
        this.markDirty(collection.name, id);
        update = remoteUpdate(collection.name, id, version, seq, "changed", cloneJson(set), unset);
      }
    }
    this.touch(collection, id, own ? undefined : update);
    this.advanceCursor(seq);
    return true;
  }

  private onRemoved(frame: RemovedFrame): void {
    const seq = frame.seq;
    const sub = this.subs.get(frame.sub);
    if (sub !== undefined && sub.snapshotIds === undefined) {
      const collection = this.collectionState(sub.collection);
      const id = frame.id;
      if (frame.mid !== undefined) {
        this.pendingByMid.get(frame.mid)?.seen.add(docKey(collection.name, id));
      }
      const cached = collection.confirmed.get(id);
      if (cached !== undefined) {
        this.leaveSubscription(collection, id, cached, sub.name, frame.version, seq);
      }
    }
    this.advanceCursor(seq);
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
      for (const sub of this.subs.values()) {
        sub.established = false;
      }
    }
    const resumed = [...this.subs.values()].filter((s) => s.established);
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
    for (const sub of this.subs.values()) {
      if (!sub.established) {
        this.sendSubscribe(sub);
      }
    }
    // Replayed in their original order with their original numbers: the server answers each one it
    // already applied with its original result.
    this.sendWrites();
    this.setState("online");
    this.log("info", `lockstep: connected to ${connection.url} (${connection.encoding}, head ${connection.welcome.head}, resumable ${String(connection.welcome.resumable)})`);
    const heartbeat = startHeartbeat(connection, this.settings.heartbeatIntervalMs, this.settings.requestTimeoutMs, this.settings.now, () =>
      this.pending.find((p) => p.sentOn === connection)?.sentAt,
    );
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
        for (const pending of this.pending) {
          if (pending.sentOn === connection) {
            pending.sentOn = undefined;
          }
        }
        for (const sub of this.subs.values()) {
          sub.requested = false;
          if (sub.snapshotIds !== undefined) {
            // A snapshot cut short is asked for again from the start.
            sub.snapshotIds = undefined;
            sub.established = false;
          }
        }
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
    // A store that never reserved numbers starts from the clock, so a client id reused with a new
    // (or wiped) store still never repeats a number.
    const reserved = Number(state.meta["midReserved"] ?? 0);
    this.midReserved = reserved > 0 ? reserved : this.settings.now() * 1000;
    this.nextMid = this.midReserved;
    this.cursorValue = Number(state.meta["cursor"] ?? 0);

    for (const stored of state.subs) {
      let sub = this.subs.get(stored.name);
      if (sub === undefined) {
        sub = new SubscriptionState(stored.name, stored.collection, stored.filter, compileFilter(stored.filter));
        this.subs.set(stored.name, sub);
        this.collectionState(stored.collection).subscriptions++;
      }
      if (stored.established) {
        sub.established = true;
        sub.ready.resolve();
      }
    }
    for (const doc of state.docs) {
      const collection = this.collectionState(doc.collection);
      const subs = doc.subs.filter((name) => this.subs.has(name));
      if (subs.length > 0) {
        collection.confirmed.set(doc.id, { version: doc.version, body: doc.body === null ? null : cloneJson(doc.body), subs: new Set(subs) });
      }
    }
    // Restored writes are older than any made before the store was read: they go first.
    const early = this.pending.splice(0);
    for (const stored of state.pending) {
      const write = writeFromStored(stored.frame);
      if (write === undefined) {
        this.log("error", `lockstep: the store holds write ${stored.mid} in a form this client cannot read; it is dropped`);
        void guard(() => this.settings.store.removePending(stored.mid), () => undefined);
        continue;
      }
      const pending = new PendingWrite(stored.mid, write, write.type === "mut" ? write.ops : []);
      pending.persisted = true;
      this.pending.push(pending);
      this.pendingByMid.set(stored.mid, pending);
      this.nextMid = Math.max(this.nextMid, stored.mid);
    }
    this.restored = true;
    for (const pending of early) {
      this.pending.push(pending);
      this.number(pending);
    }
    const touched = new Set<string>();
    for (const collection of this.collections.values()) {
      for (const id of collection.confirmed.keys()) {
        touched.add(docKey(collection.name, id));
      }
    }
    for (const pending of this.pending) {
      for (const op of pending.ops) {
        touched.add(docKey(op.collection, op.id));
      }
    }
    for (const key of touched) {
      const [collection, id] = splitKey(key);
      this.touch(this.collectionState(collection), id, undefined);
    }
  }

  /** The store could not be read: the client cannot keep its promises, so it refuses to work. */
  private fail(error: unknown): void {
    this.failure = error;
    this.log("error", "lockstep: the store could not be opened", error);
    for (const pending of this.pending.splice(0)) {
      pending.completion.reject(error);
    }
    this.setState("closed");
    if (!this.online.settled) {
      this.online.reject(error);
    }
  }

  private markDirty(collection: string, id: string): void {
    this.dirtyDocs.add(docKey(collection, id));
  }

  /** Writes what changed since the last flush, with the cursor, in one batch. */
  private async flush(): Promise<void> {
    if (!this.restored || (this.dirtyDocs.size === 0 && this.dirtySubs.size === 0 && this.removedSubs.size === 0 && !this.cursorDirty)) {
      return;
    }
    const upserts: StoredDoc[] = [];
    const deletes: { collection: string; id: string }[] = [];
    for (const key of this.dirtyDocs) {
      const [collection, id] = splitKey(key);
      const cached = this.collections.get(collection)?.confirmed.get(id);
      if (cached !== undefined && cached.subs.size > 0) {
        upserts.push({ collection, id, version: cached.version, body: cached.body === null ? null : cloneJson(cached.body), subs: [...cached.subs] });
      } else {
        deletes.push({ collection, id });
      }
    }
    const subs: StoredSub[] = [];
    for (const name of this.dirtySubs) {
      const sub = this.subs.get(name);
      if (sub !== undefined) {
        subs.push({ name, collection: sub.collection, filter: sub.filter === null ? null : cloneJson(sub.filter), established: sub.established });
      }
    }
    const batch = { cursor: this.cursorValue, upserts, deletes, subs, removedSubs: [...this.removedSubs] };
    this.dirtyDocs.clear();
    this.dirtySubs.clear();
    this.removedSubs.clear();
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
    for (const pending of this.pending) {
      if (pending.ack === undefined) {
        pending.completion.reject(new ClientDisposedError("The client was disposed before the write was confirmed; it stays queued in the store."));
      }
    }
    await this.restoreDone.catch(() => undefined);
    if (this.failure === undefined) {
      await this.flush();
      // Writes still being saved finish first, so the next client finds them.
      await this.reservation.catch(() => undefined);
      await Promise.allSettled([...this.saving]);
      await guard(() => this.settings.store.close(), (error) => this.log("error", "lockstep: could not close the store", error));
    }
    for (const sub of this.subs.values()) {
      if (!sub.ready.settled) {
        sub.ready.reject(new ClientDisposedError());
      }
    }
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

function subscriptionName(collection: string, filter: Filter | null): string {
  return `q-${stableHash(`${collection}\n${JSON.stringify(filter ?? {})}`)}`;
}

function remoteUpdate(collection: string, id: string, version: number, seq: number, kind: RemoteUpdate["kind"], set: JsonObject, unset: readonly string[]): RemoteUpdate {
  return { collection, id, version, seq, kind, set, unset };
}

/** A write's request id: its mutation number, so a reply finds the write on any connection. */
function writeRequestId(mid: number): string {
  return `m${mid}`;
}

function midOf(id: RequestId | undefined): number | undefined {
  if (typeof id !== "string" || !/^m\d+$/.test(id)) {
    return undefined;
  }
  return Number(id.slice(1));
}

function splitKey(key: string): [string, string] {
  const at = key.indexOf("\n");
  return [key.slice(0, at), key.slice(at + 1)];
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
