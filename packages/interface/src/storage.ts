import type { ReplicaComponents } from './components'

/** One durable log record: the request delivered at `position`, encoded by the engine. */
export interface LogRecord {
  readonly position: number
  readonly data: Uint8Array
}

/** A state snapshot taken after the request at `position` executed. */
export interface Snapshot {
  readonly position: number
  readonly data: Uint8Array
}

/** What survived on disk: the newest complete snapshot and the complete records after it. */
export interface Recovered {
  readonly snapshot: Snapshot | undefined
  readonly records: readonly LogRecord[]
  /**
   * Set when the storage found damage it cannot recover from without losing data (corruption, not a torn
   * tail) and gave its contents up: `snapshot` and `records` are empty, and the replica must rejoin by state
   * transfer, never start a new cluster. Every later `open()` says so again until a snapshot is written.
   */
  readonly damaged?: StorageDamage
}

/** Damage that made a storage give up its contents (see {@link Recovered.damaged}). */
export interface StorageDamage {
  /** The damaged file. */
  readonly file: string
  /** Byte offset of the damage in `file`, when known. */
  readonly offset: number | undefined
  /** What is wrong, in words. */
  readonly message: string
  /** Where the damaged files were moved for inspection (nothing is deleted). */
  readonly setAsideIn: string
  /**
   * What could still be read around the damage, when the storage could tell (damage in the middle of a log
   * whose snapshot is intact): the snapshot, every valid record before and after the damage in order, and each
   * damaged stretch as a hole between the positions of the records around it. Never served from: a replica may
   * only tell its peers from it how far its disk held the order, so a cluster that lost several disks can still
   * resume from one that holds everything.
   */
  readonly readable?: ReadableAroundDamage
}

/** See {@link StorageDamage.readable}. */
export interface ReadableAroundDamage {
  readonly snapshot: Snapshot | undefined
  readonly records: readonly LogRecord[]
  /** Between the record at log position `after` (or the snapshot) and the one at `before`, the records were lost. */
  readonly holes: readonly { readonly after: number; readonly before: number }[]
}

/** When appended records become durable. */
export type SyncPolicy = 'batch' | 'interval' | 'never'

/**
 * Durable state of one replica: a write-ahead log of delivered requests plus
 * snapshots. Appends are buffered; `sync` makes them durable per the policy and
 * resolves once they are.
 */
export interface Storage {
  /** Reads what survived. Called once, before anything else. */
  open(): Promise<Recovered>
  /** Appends records (positions strictly increasing). */
  append(records: readonly LogRecord[]): void
  /** Resolves once every appended record is as durable as the policy makes it. */
  sync(): Promise<void>
  /** Writes a snapshot atomically, then drops the records it covers. */
  writeSnapshot(snapshot: Snapshot): Promise<void>
  close(): Promise<void>
}

/**
 * Builds a replica's storage from the host's components. Storage plug-ins export a
 * factory of factories, configuration first: `fileStorage(options) => StorageFactory`;
 * the host calls it with its own `{ self, scheduler, log }`.
 */
export type StorageFactory<T extends Storage = Storage> = (components: ReplicaComponents) => T
