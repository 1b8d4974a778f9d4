// @lockstep/client: the TypeScript client of Lockstep (docs/protocol.md), the same shape as the .NET client.
export { LockstepClient, type LockstepClientOptions, type MutateOptions } from "./client.js";
export type { Encoding } from "./protocol/codec.js";
export { LockstepCollection, type WriteOptions, type PatchOptions } from "./collection.js";
export { LiveQuery } from "./live-query.js";
export { WriteOp, type PutOp, type PatchOp, type IncOp, type DeleteOp } from "./write-op.js";
export type { ConnectionState, RemoteUpdate, RemoteUpdateKind, DocumentChange, WriteAck, WrittenVersion } from "./types.js";
export { LockstepError, VersionConflictError, MutationRejectedError, ClientDisposedError, ErrorCodes, isTransientCode, type ErrorCode, type LockstepErrorDetails } from "./errors.js";
export type { Filter, FilterCondition, FilterScalar } from "./filter.js";
export type { JsonObject, JsonValue } from "./json.js";
export { MemoryStore, type ClientStore, type StoredState, type StoredDoc, type StoredSub, type StoredWrite, type StoreFlush } from "./store.js";
export { IndexedDbStore, type IndexedDbStoreOptions } from "./indexeddb-store.js";
export type { WebSocketLike, WebSocketConstructor } from "./connection.js";
export type { Logger } from "./internal.js";
export { bindForm, type FormBinding, type FormBindingOptions } from "./form-binding.js";
