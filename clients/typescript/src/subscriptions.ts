import type { Connection } from "./connection.js";
import { LockstepError } from "./errors.js";
import { compileFilter, type Filter } from "./filter.js";
import { SubscriptionState, stableHash, type CachedDoc, type CollectionState } from "./internal.js";
import { applyDelta, cloneJson } from "./json.js";
import { remoteUpdate, type LocalView } from "./local-view.js";
import type { ChangeFrame, ErrorFrame, RemovedFrame, SnapshotFrame, SubscribedFrame } from "./protocol/frames.js";
import type { StoredSub } from "./store.js";
import type { RemoteUpdate } from "./types.js";
import type { WriteQueue } from "./write-queue.js";

/** What the subscriptions need from the client around them. */
export interface SubscriptionHooks {
  readonly view: LocalView;
  readonly writes: WriteQueue;
  connection(): Connection | undefined;
  cursor(): number;
  /** Moves the stream position to a frame's seq once it is applied (`reset`: even backwards). */
  advanceCursor(seq: number, reset?: boolean): void;
  backoff(attempt: number): number;
  log(level: "warn", message: string): void;
}

/**
 * The server subscriptions of the client, across connections: asked for when a connection comes
 * (or resumed by the hello), filled by their snapshots, kept current by live frames, and the
 * confirmed documents they hold. Equal filters on one collection share one server subscription.
 */
export class SubscriptionSet {
  private readonly subs = new Map<string, SubscriptionState>();
  /** Subscriptions to save at the next flush, and those to remove from the store. */
  readonly dirty = new Set<string>();
  readonly removed = new Set<string>();

  constructor(private readonly hooks: SubscriptionHooks) {}

  has(name: string): boolean {
    return this.subs.has(name);
  }

  /** Those whose snapshot was complete: a hello may resume them from the cursor. */
  established(): SubscriptionState[] {
    return [...this.subs.values()].filter((s) => s.established);
  }

  /** Joins (or starts) the subscription for a collection and filter, named after them so a restarted client finds its cached one again. */
  subscribe(collection: string, filter: Filter | null | undefined): SubscriptionState {
    const matches = compileFilter(filter);
    const wire = filter === undefined || filter === null || Object.keys(filter).length === 0 ? null : (cloneJson(filter) as Filter);
    const name = subscriptionName(collection, wire);
    let sub = this.subs.get(name);
    if (sub === undefined) {
      sub = new SubscriptionState(name, collection, wire, matches);
      this.subs.set(name, sub);
      this.removed.delete(name);
      this.dirty.add(name);
      this.hooks.view.collection(collection).subscriptions++;
      this.request(sub);
    }
    sub.refs++;
    return sub;
  }

  unsubscribe(sub: SubscriptionState): void {
    if (--sub.refs > 0 || this.subs.get(sub.name) !== sub) {
      return;
    }
    const connection = this.hooks.connection();
    connection?.send({ type: "unsub", id: connection.requestId("u"), sub: sub.name });
    this.remove(sub);
  }

  /** A new connection: asks for every subscription the hello did not resume. */
  requestAll(): void {
    for (const sub of this.subs.values()) {
      if (!sub.established) {
        this.request(sub);
      }
    }
  }

  /** The next hello resumes nothing: every subscription is asked for afresh. */
  forgetEstablished(): void {
    for (const sub of this.subs.values()) {
      sub.established = false;
    }
  }

  /** The connection is gone: nothing is requested any more, and a snapshot cut short is asked for again from the start. */
  connectionEnded(): void {
    for (const sub of this.subs.values()) {
      sub.requested = false;
      if (sub.snapshotIds !== undefined) {
        sub.snapshotIds = undefined;
        sub.established = false;
      }
    }
  }

  /** Takes in the subscriptions the store held (those made before it was read stay). */
  restore(stored: readonly StoredSub[]): void {
    for (const entry of stored) {
      let sub = this.subs.get(entry.name);
      if (sub === undefined) {
        sub = new SubscriptionState(entry.name, entry.collection, entry.filter, compileFilter(entry.filter));
        this.subs.set(entry.name, sub);
        this.hooks.view.collection(entry.collection).subscriptions++;
      }
      if (entry.established) {
        sub.established = true;
        sub.ready.resolve();
      }
    }
  }

  /** The subscriptions changed since the last save, as the store keeps them. */
  toStore(names: Iterable<string>): StoredSub[] {
    const out: StoredSub[] = [];
    for (const name of names) {
      const sub = this.subs.get(name);
      if (sub !== undefined) {
        out.push({ name, collection: sub.collection, filter: sub.filter === null ? null : cloneJson(sub.filter), established: sub.established });
      }
    }
    return out;
  }

  /** Rejects the readiness of every subscription still waiting for its snapshot. */
  abandon(error: unknown): void {
    for (const sub of this.subs.values()) {
      if (!sub.ready.settled) {
        sub.ready.reject(error);
      }
    }
  }

  // ---- frames -------------------------------------------------------------------------------

  onSubscribed(frame: SubscribedFrame): void {
    const sub = this.subs.get(frame.sub);
    if (sub !== undefined) {
      sub.established = true;
      this.dirty.add(sub.name);
      sub.ready.resolve();
    }
    this.hooks.advanceCursor(frame.seq);
  }

  /** A refusal of a `sub` (request id `s:<name>`); false when the error is not about one of these. */
  onRefused(frame: ErrorFrame): boolean {
    const id = frame.id;
    if (typeof id !== "string" || !id.startsWith("s:")) {
      return false;
    }
    const sub = this.subs.get(id.slice(2));
    if (sub === undefined) {
      return false;
    }
    const error = LockstepError.fromFrame(frame);
    if (error.transient) {
      // Refused for now (rate_limited, overloaded): asked again after a backoff on the same connection.
      const connection = this.hooks.connection();
      sub.requested = false;
      setTimeout(() => {
        if (this.hooks.connection() === connection && this.subs.get(sub.name) === sub) {
          this.request(sub);
        }
      }, this.hooks.backoff(1));
      return true;
    }
    // A refused subscription (an invalid filter, later: forbidden) is given up; its queries' ready() rejects.
    this.remove(sub);
    sub.ready.reject(error);
    return true;
  }

  onSnapshot(frame: SnapshotFrame): void {
    const sub = this.subs.get(frame.sub);
    if (sub === undefined) {
      return;
    }
    const view = this.hooks.view;
    const collection = view.collection(sub.collection);
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
      view.markDirty(collection.name, id);
      // A reset replaces whatever was held: the server's data is the truth even when older (restored from a backup).
      if (isNew || version > cached.version || (reset && version !== cached.version)) {
        cached.version = version;
        cached.body = cloneJson(entry.doc);
        view.touch(collection, id, remoteUpdate(collection.name, id, version, seq, "entered", cloneJson(entry.doc), []));
      }
    }
    if (!frame.last) {
      return;
    }
    // What the subscription held and the snapshot no longer has has left it.
    for (const [id, cached] of [...collection.confirmed]) {
      if (cached.subs.has(sub.name) && !sub.snapshotIds.has(id)) {
        this.leave(collection, id, cached, sub.name, cached.version, seq);
      }
    }
    sub.snapshotIds = undefined;
    sub.established = true;
    this.dirty.add(sub.name);
    this.hooks.advanceCursor(seq, reset);
    sub.ready.resolve();
  }

  /** Applies a change; false when it shows the client is out of step (the connection is then started over). */
  onChange(frame: ChangeFrame): boolean {
    const seq = frame.seq;
    const sub = this.subs.get(frame.sub);
    if (sub === undefined || sub.snapshotIds !== undefined) {
      this.hooks.advanceCursor(seq);
      return true;
    }
    const view = this.hooks.view;
    const collection = view.collection(sub.collection);
    const id = frame.id;
    const version = frame.version;
    const change = frame.change;
    // Only this client's own changes carry a mid; its pending write (if still held) is now part of the confirmed state.
    const own = frame.mid !== undefined;
    if (frame.mid !== undefined) {
      this.hooks.writes.markSeen(frame.mid, collection.name, id);
    }
    let cached = collection.confirmed.get(id);
    let update: RemoteUpdate | undefined;
    if (change.kind === "deleted") {
      if (cached !== undefined && version > cached.version) {
        collection.confirmed.delete(id);
        view.markDirty(collection.name, id);
        update = remoteUpdate(collection.name, id, version, seq, "deleted", {}, []);
      }
    } else if (change.kind === "entered") {
      if (cached === undefined) {
        cached = { version: 0, body: null, subs: new Set() };
        collection.confirmed.set(id, cached);
      }
      cached.subs.add(sub.name);
      view.markDirty(collection.name, id);
      if (version > cached.version || cached.body === null) {
        cached.version = version;
        cached.body = cloneJson(change.doc);
        update = remoteUpdate(collection.name, id, version, seq, "entered", cloneJson(change.doc), []);
      }
    } else {
      if (cached === undefined || cached.body === null || version > cached.version + 1) {
        // A delta for a version not held: something was missed. Start over from snapshots.
        this.hooks.log("warn", `lockstep: out of step on ${sub.name}: ${collection.name}/${id} ${cached === undefined ? "is not held" : `jumped from version ${cached.version} to ${version}`}; resynchronizing`);
        return false;
      }
      cached.subs.add(sub.name);
      if (version === cached.version + 1) {
        const unset = change.unset ?? [];
        applyDelta(cached.body, change.set, unset);
        cached.version = version;
        view.markDirty(collection.name, id);
        update = remoteUpdate(collection.name, id, version, seq, "changed", cloneJson(change.set), unset);
      }
    }
    view.touch(collection, id, own ? undefined : update);
    this.hooks.advanceCursor(seq);
    return true;
  }

  onRemoved(frame: RemovedFrame): void {
    const sub = this.subs.get(frame.sub);
    if (sub !== undefined && sub.snapshotIds === undefined) {
      const collection = this.hooks.view.collection(sub.collection);
      if (frame.mid !== undefined) {
        this.hooks.writes.markSeen(frame.mid, collection.name, frame.id);
      }
      const cached = collection.confirmed.get(frame.id);
      if (cached !== undefined) {
        this.leave(collection, frame.id, cached, sub.name, frame.version, frame.seq);
      }
    }
    this.hooks.advanceCursor(frame.seq);
  }

  private request(sub: SubscriptionState): void {
    const connection = this.hooks.connection();
    if (connection === undefined || sub.requested) {
      return;
    }
    sub.requested = true;
    connection.send({ type: "sub", id: `s:${sub.name}`, ...sub.spec() });
  }

  private remove(sub: SubscriptionState): void {
    if (!this.subs.delete(sub.name)) {
      return;
    }
    this.dirty.delete(sub.name);
    this.removed.add(sub.name);
    const collection = this.hooks.view.collection(sub.collection);
    collection.subscriptions--;
    for (const [id, cached] of [...collection.confirmed]) {
      if (cached.subs.has(sub.name)) {
        this.leave(collection, id, cached, sub.name, cached.version, this.hooks.cursor());
      }
    }
  }

  /** A document left one subscription; when no other holds it, it leaves the cache. */
  private leave(collection: CollectionState, id: string, cached: CachedDoc, sub: string, version: number, seq: number): void {
    cached.subs.delete(sub);
    this.hooks.view.markDirty(collection.name, id);
    if (cached.subs.size === 0) {
      collection.confirmed.delete(id);
      this.hooks.view.touch(collection, id, remoteUpdate(collection.name, id, version, seq, "removed", {}, []));
    }
  }
}

function subscriptionName(collection: string, filter: Filter | null): string {
  return `q-${stableHash(`${collection}\n${JSON.stringify(filter ?? {})}`)}`;
}
