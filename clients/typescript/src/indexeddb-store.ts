import type { ClientStore, StoredDoc, StoredState, StoredSub, StoredWrite, StoreFlush } from "./store.js";

/** Options of an {@link IndexedDbStore}. */
export interface IndexedDbStoreOptions {
  /** The IndexedDB factory. Default: the global `indexedDB`. */
  readonly indexedDB?: IDBFactory;
  /** The Web Locks manager that keeps two tabs out of one store. Default: `navigator.locks` when there is one. */
  readonly locks?: LockManager | null;
  /** How many stores (`name`, `name-2`, …) a page may use, one per open tab. Default: 16. */
  readonly slots?: number;
}

const FORMAT = "1";

/**
 * The browser store: one IndexedDB database holding the client's id, cursor, cache and queue of
 * unconfirmed writes. Two tabs must never share a client id (they would number writes alike), so
 * each client takes an exclusive Web Lock on its database: the first tab gets `name`, a second
 * `name-2`, and so on. A store a closed tab left behind is picked up, with its queued writes, by the
 * next tab that opens.
 */
export class IndexedDbStore implements ClientStore {
  private readonly factory: IDBFactory;
  private readonly locks: LockManager | null;
  private readonly slots: number;
  private db: IDBDatabase | undefined;
  private release: (() => void) | undefined;
  /** The database this store opened (`name` or `name-N`), once open. */
  databaseName: string | undefined;

  constructor(readonly name = "lockstep", options: IndexedDbStoreOptions = {}) {
    const factory = options.indexedDB ?? (globalThis as { indexedDB?: IDBFactory }).indexedDB;
    if (factory === undefined) {
      throw new Error("IndexedDB is not available here; pass a store (for example new MemoryStore()).");
    }
    this.factory = factory;
    this.locks = options.locks !== undefined ? options.locks : ((globalThis as { navigator?: { locks?: LockManager } }).navigator?.locks ?? null);
    this.slots = options.slots ?? 16;
  }

  async open(): Promise<StoredState> {
    if (this.db !== undefined) {
      throw new Error("This store is in use by another client.");
    }
    const slot = await this.lockSlot();
    this.databaseName = slot;
    const db = await request(this.openRequest(slot));
    this.db = db;
    const tx = db.transaction(["meta", "docs", "subs", "pending"], "readonly");
    const [metaKeys, metaValues, docs, subs, pending] = await Promise.all([
      request(tx.objectStore("meta").getAllKeys()),
      request(tx.objectStore("meta").getAll()),
      request(tx.objectStore("docs").getAll()) as Promise<StoredDoc[]>,
      request(tx.objectStore("subs").getAll()) as Promise<StoredSub[]>,
      request(tx.objectStore("pending").getAll()) as Promise<StoredWrite[]>,
    ]);
    const meta: Record<string, string> = {};
    metaKeys.forEach((key, i) => {
      meta[String(key)] = String(metaValues[i]);
    });
    if (meta["format"] !== undefined && meta["format"] !== FORMAT) {
      throw new Error(`The store ${slot} has format ${meta["format"]}; this client reads format ${FORMAT}.`);
    }
    if (meta["format"] === undefined) {
      await this.setMeta("format", FORMAT);
    }
    return { meta, docs, subs, pending };
  }

  setMeta(key: string, value: string): Promise<void> {
    return this.write(["meta"], (tx) => tx.objectStore("meta").put(value, key), "strict");
  }

  addPending(write: StoredWrite): Promise<void> {
    // Strict: the queued write must survive a crash of the browser, not only of the tab.
    return this.write(["pending"], (tx) => tx.objectStore("pending").put({ mid: write.mid, frame: write.frame }), "strict");
  }

  removePending(mid: number): Promise<void> {
    return this.write(["pending"], (tx) => tx.objectStore("pending").delete(mid), "relaxed");
  }

  flush(batch: StoreFlush): Promise<void> {
    return this.write(["meta", "docs", "subs"], (tx) => {
      const docs = tx.objectStore("docs");
      for (const doc of batch.upserts) {
        docs.put(doc);
      }
      for (const doc of batch.deletes) {
        docs.delete([doc.collection, doc.id]);
      }
      const subs = tx.objectStore("subs");
      for (const sub of batch.subs) {
        subs.put(sub);
      }
      for (const name of batch.removedSubs) {
        subs.delete(name);
      }
      tx.objectStore("meta").put(String(batch.cursor), "cursor");
    }, "relaxed");
  }

  close(): void {
    this.db?.close();
    this.db = undefined;
    this.release?.();
    this.release = undefined;
  }

  private openRequest(name: string): IDBOpenDBRequest {
    const open = this.factory.open(name, 1);
    open.onupgradeneeded = () => {
      const db = open.result;
      db.createObjectStore("meta");
      db.createObjectStore("docs", { keyPath: ["collection", "id"] });
      db.createObjectStore("subs", { keyPath: "name" });
      db.createObjectStore("pending", { keyPath: "mid" });
    };
    return open;
  }

  /** Takes the first free slot's lock and holds it until close; without Web Locks, the first slot. */
  private async lockSlot(): Promise<string> {
    const locks = this.locks;
    if (locks === null) {
      return this.name;
    }
    for (let i = 1; i <= this.slots; i++) {
      const slot = i === 1 ? this.name : `${this.name}-${i}`;
      const granted = await new Promise<boolean>((resolve) => {
        void locks.request(`lockstep-store:${slot}`, { ifAvailable: true }, (lock) => {
          if (lock === null) {
            resolve(false);
            return undefined;
          }
          resolve(true);
          // Held until close() resolves this promise.
          return new Promise<void>((release) => {
            this.release = release;
          });
        });
      });
      if (granted) {
        return slot;
      }
    }
    throw new Error(`All ${this.slots} stores named ${this.name} are in use by other tabs.`);
  }

  private write(stores: string[], fill: (tx: IDBTransaction) => void, durability: IDBTransactionDurability): Promise<void> {
    const db = this.db;
    if (db === undefined) {
      return Promise.reject(new Error("The store is not open."));
    }
    return new Promise<void>((resolve, reject) => {
      const tx = db.transaction(stores, "readwrite", { durability });
      tx.oncomplete = () => resolve();
      tx.onerror = () => reject(tx.error ?? new Error("IndexedDB transaction failed."));
      tx.onabort = () => reject(tx.error ?? new Error("IndexedDB transaction aborted."));
      fill(tx);
    });
  }
}

function request<T>(req: IDBRequest<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error ?? new Error("IndexedDB request failed."));
  });
}
