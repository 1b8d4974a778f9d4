import type { Connection } from "./connection.js";
import { LockstepError } from "./errors.js";
import { delay, docKey, PendingWrite } from "./internal.js";
import type { LocalView } from "./local-view.js";
import { MalformedFrameError, messageBytes } from "./protocol/codec.js";
import type { AckFrame, ErrorFrame, WriteRequest } from "./protocol/frames.js";
import { writeFromStored, writeToStored } from "./protocol/json-codec.js";
import type { ClientStore, StoredWrite } from "./store.js";
import { writeAckFromFrame } from "./types.js";
import type { WriteOp } from "./write-op.js";

/** Mutation numbers are reserved in blocks, so a restart never reuses one and a write costs no extra store update. */
const MID_BLOCK = 10_000;
const MAX_TRANSIENT_RETRIES = 10;

/** What the queue needs from the client around it. */
export interface WriteQueueHooks {
  readonly store: ClientStore;
  readonly view: LocalView;
  readonly now: () => number;
  /** Ends the waits of writes being retried. */
  readonly stopping: AbortSignal;
  /** The connection writes go out on, when there is one. */
  connection(): Connection | undefined;
  /** The stream position the client has applied. */
  cursor(): number;
  backoff(attempt: number): number;
  log(level: "error" | "warn", message: string, detail?: unknown): void;
}

/**
 * The writes the server has not confirmed: numbered (`mid`) and saved in the store before they go
 * out, sent in order on every connection until acknowledged (a replay is answered with the original
 * outcome), and kept in the local view after their ack until the stream has passed its seq.
 */
export class WriteQueue {
  private readonly pending: PendingWrite[] = [];
  private readonly byMid = new Map<number, PendingWrite>();
  /** Writes being handed to the store. */
  private readonly saving = new Set<Promise<void>>();
  private nextMid = 0;
  private midReserved = 0;
  private reservation: Promise<void> = Promise.resolve();
  private restored = false;

  constructor(private readonly hooks: WriteQueueHooks) {}

  /** Every write not yet settled, oldest first (for the local view). */
  get all(): readonly PendingWrite[] {
    return this.pending;
  }

  /** Writes not yet acknowledged. */
  get unconfirmedCount(): number {
    return this.pending.filter((p) => p.ack === undefined).length;
  }

  /** Resolves when every write queued so far has been acknowledged or refused. */
  async whenConfirmed(): Promise<void> {
    await Promise.all(this.pending.filter((p) => p.ack === undefined).map((p) => p.completion.promise.catch(() => undefined)));
  }

  /** Queues a write (numbered at once once the store has been read) and shows it in the local view. */
  add(write: WriteRequest, ops: readonly WriteOp[]): PendingWrite {
    const pending = new PendingWrite(0, write, ops);
    this.pending.push(pending);
    if (this.restored) {
      this.number(pending);
    }
    this.hooks.view.touchOps(ops);
    return pending;
  }

  /**
   * Takes in what the store held: the block of numbers reserved so far and the queue, which goes
   * before any write made while the store was being read.
   */
  restore(midReserved: string | undefined, stored: readonly StoredWrite[]): void {
    // A store that never reserved numbers starts from the clock, so a client id reused with a new
    // (or wiped) store still never repeats a number.
    const reserved = Number(midReserved ?? 0);
    this.midReserved = reserved > 0 ? reserved : this.hooks.now() * 1000;
    this.nextMid = this.midReserved;
    const early = this.pending.splice(0);
    for (const entry of stored) {
      const write = writeFromStored(entry.frame);
      if (write === undefined) {
        this.hooks.log("error", `lockstep: the store holds write ${entry.mid} in a form this client cannot read; it is dropped`);
        this.removeFromStore(entry.mid);
        continue;
      }
      const pending = new PendingWrite(entry.mid, write, write.type === "mut" ? write.ops : []);
      pending.persisted = true;
      this.pending.push(pending);
      this.byMid.set(entry.mid, pending);
      this.nextMid = Math.max(this.nextMid, entry.mid);
    }
    this.restored = true;
    for (const pending of early) {
      this.pending.push(pending);
      this.number(pending);
    }
  }

  /** Sends, in order, every saved write not yet in flight on the current connection. */
  sendAll(): void {
    const connection = this.hooks.connection();
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
      pending.sentAt = this.hooks.now();
      connection.sendEncoded(data);
    }
  }

  /** When the oldest write in flight on this connection was sent (ms), if one is. */
  inFlightSince(connection: Connection): number | undefined {
    return this.pending.find((p) => p.sentOn === connection)?.sentAt;
  }

  /** The connection is gone: what was in flight on it goes out again on the next. */
  connectionEnded(connection: Connection): void {
    for (const pending of this.pending) {
      if (pending.sentOn === connection) {
        pending.sentOn = undefined;
      }
    }
  }

  /** The change of a document written by write `mid` has arrived: the confirmed state holds that op now. */
  markSeen(mid: number, collection: string, id: string): void {
    this.byMid.get(mid)?.seen.add(docKey(collection, id));
  }

  onAck(mid: number, frame: AckFrame): void {
    const pending = this.byMid.get(mid);
    if (pending === undefined || pending.ack !== undefined) {
      return;
    }
    pending.sentOn = undefined;
    const ack = writeAckFromFrame(frame);
    this.removeFromStore(pending.mid);
    pending.ack = ack;
    pending.completion.resolve(ack);
    const watched = pending.ops.some((o) => this.hooks.view.collection(o.collection).subscriptions > 0);
    if (!watched || this.hooks.cursor() >= ack.seq) {
      this.settle(pending);
    } else {
      this.hooks.view.touchOps(pending.ops);
    }
  }

  onError(mid: number, frame: ErrorFrame): void {
    const pending = this.byMid.get(mid);
    if (pending === undefined || pending.ack !== undefined) {
      return;
    }
    pending.sentOn = undefined;
    const error = LockstepError.fromFrame(frame);
    // A transient refusal (overloaded, storage unavailable) was not recorded: the same mid may be sent again.
    if (error.transient && frame.duplicate !== true && pending.transientFailures < MAX_TRANSIENT_RETRIES) {
      pending.transientFailures++;
      pending.holding = true;
      const wait = this.hooks.backoff(pending.transientFailures);
      this.hooks.log("warn", `lockstep: write ${mid} refused with ${error.code}; retrying in ${Math.round(wait)} ms`);
      void delay(wait, this.hooks.stopping).then(() => {
        pending.holding = false;
        // Sent again with the same mid on whatever connection is current (none: when one comes).
        this.sendAll();
      });
      return;
    }
    this.hooks.log("warn", `lockstep: write ${mid} refused: ${error.code}: ${error.message}`);
    this.refuse(pending, error);
  }

  /** The stream has passed `cursor`: acknowledged writes up to it are part of the confirmed state. */
  settleThrough(cursor: number): void {
    for (const pending of [...this.pending]) {
      if (pending.ack !== undefined && pending.ack.seq <= cursor) {
        this.settle(pending);
      }
    }
  }

  /** The client cannot go on (its store could not be read): every write fails with the reason. */
  failAll(error: unknown): void {
    for (const pending of this.pending.splice(0)) {
      pending.completion.reject(error);
    }
  }

  /** The client is being disposed: callers stop waiting for what is not confirmed (it stays in the store). */
  abandon(error: unknown): void {
    for (const pending of this.pending) {
      if (pending.ack === undefined) {
        pending.completion.reject(error);
      }
    }
  }

  /** Completes once every write and number reservation handed to the store has been taken. */
  async saved(): Promise<void> {
    await this.reservation.catch(() => undefined);
    await Promise.allSettled([...this.saving]);
  }

  /**
   * Gives a write its mutation number and hands it to the store before the call that made it
   * returns (a synchronous store has it by then; an asynchronous one has the request, in order).
   * It goes on the wire once the store has confirmed it, and the block reservation of its number.
   */
  private number(pending: PendingWrite): void {
    pending.mid = this.takeMid();
    this.byMid.set(pending.mid, pending);
    const reservation = this.reservation;
    const saved = (async () => {
      const added = this.hooks.store.addPending({ mid: pending.mid, frame: writeToStored({ ...pending.write, mid: pending.mid }) });
      await Promise.all([reservation, added]);
    })();
    this.saving.add(saved);
    saved.then(
      () => {
        this.saving.delete(saved);
        pending.persisted = true;
        this.sendAll();
      },
      (error: unknown) => {
        this.saving.delete(saved);
        // Not saved, so not sent: refuse it, as nothing can promise it survives a restart.
        this.hooks.log("error", `lockstep: could not save write ${pending.mid}`, error);
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
      const saving = (async () => this.hooks.store.setMeta("midReserved", reserved))();
      this.reservation = Promise.all([previous, saving]).then(() => undefined);
      this.reservation.catch(() => undefined);
    }
    return this.nextMid;
  }

  /** Gives a write up: out of the store and the queue, the local view back to server truth, then the caller hears. */
  private refuse(pending: PendingWrite, error: unknown): void {
    this.removeFromStore(pending.mid);
    this.drop(pending);
    this.hooks.view.touchOps(pending.ops);
    pending.completion.reject(error);
  }

  /** Drops an acknowledged write whose changes the confirmed state now holds. */
  private settle(pending: PendingWrite): void {
    this.drop(pending);
    this.hooks.view.touchOps(pending.ops);
  }

  private drop(pending: PendingWrite): void {
    const index = this.pending.indexOf(pending);
    if (index >= 0) {
      this.pending.splice(index, 1);
    }
    this.byMid.delete(pending.mid);
  }

  private removeFromStore(mid: number): void {
    void (async () => {
      try {
        await this.hooks.store.removePending(mid);
      } catch (error) {
        // Harmless: a replay of it is answered with its original result.
        this.hooks.log("warn", "lockstep: could not remove a confirmed write from the store", error);
      }
    })();
  }
}

/** A write's request id: its mutation number, so a reply finds the write on any connection. */
export function writeRequestId(mid: number): string {
  return `m${mid}`;
}

/** The mutation number a reply's request id names, if it names one. */
export function midOf(id: string | number | undefined): number | undefined {
  if (typeof id !== "string" || !/^m\d+$/.test(id)) {
    return undefined;
  }
  return Number(id.slice(1));
}
