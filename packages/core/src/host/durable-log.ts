import type { ReplicaId, Request, Storage, View } from '@lockstep/interface'
import type { EngineSnapshot, RecoveredEntry } from '../engine/engine-types'
import type { ViewValue } from '../engine/peer-messages'
import type { AcceptorState } from '../engine/view-change/acceptor'
import { decodeLogEntry, decodeSnapshot, encodeLogEntry, encodeSnapshot } from './durable-codec'

/** What a disk held at start. */
export interface DiskContents {
  readonly snapshot: EngineSnapshot | undefined
  readonly entries: readonly RecoveredEntry[]
}

/** A record, numbered in the order it was made, and the delivery position it brings the disk to. */
interface PendingRecord {
  readonly number: number
  readonly position: number
  readonly data: Uint8Array
}

/**
 * A replica's write-ahead log over a `Storage`: deliveries, views and votes in
 * the order they happened, one sync per burst (group commit), snapshots to
 * compact it. It keeps the disk a prefix of the replica's history at every
 * instant:
 * - after a state transfer nothing is appended until the snapshot of the
 *   transferred state is written, so a crash in between never leaves a log
 *   that replays later records on top of the state before the transfer;
 * - snapshots are written one after another, never skipped;
 * - `durable` (how far the disk holds the order, and which records are safe)
 *   moves only when a sync or a snapshot covering it completed.
 */
export class DurableLog {
  private readonly storage: Storage
  /** Log sequence number of the last record or snapshot handed to the storage. */
  private lsn = 0
  private recordsSinceSnapshot = 0
  /** Records are numbered as they are made; `handed` is the last one given to the storage. */
  private madeRecords = 0
  private handed = { record: 0, position: 0 }
  private synced = { record: 0, position: 0 }
  /** Records waiting for a transferred state's snapshot before they may be appended. */
  private waiting: PendingRecord[] | undefined
  private latestPosition = 0
  private snapshots: Promise<void> = Promise.resolve()

  constructor(storage: Storage) {
    this.storage = storage
  }

  /** Reads what survived. */
  async open(): Promise<DiskContents> {
    const recovered = await this.storage.open()
    const snapshot = recovered.snapshot ? decodeSnapshot(recovered.snapshot.data) : undefined
    this.lsn = recovered.records.at(-1)?.position ?? recovered.snapshot?.position ?? 0
    this.recordsSinceSnapshot = recovered.records.length
    return { snapshot, entries: recovered.records.map((r) => decodeLogEntry(r.data)) }
  }

  /** How far the disk holds the order: the last delivery covered by a completed sync or snapshot. */
  get durablePosition(): number {
    return this.synced.position
  }

  /** The number of the last record the disk holds for sure. */
  get durableRecord(): number {
    return this.synced.record
  }

  /** True if records were handed to the storage since the last sync started. */
  get unsynced(): boolean {
    return this.handed.record > this.synced.record
  }

  /** Number of records appended since the last snapshot. */
  get sinceSnapshot(): number {
    return this.recordsSinceSnapshot
  }

  /** Records the request delivered at `position`; returns the record's number. */
  appendDelivery(position: number, request: Request): number {
    return this.append(encodeLogEntry({ request }), position)
  }

  /** Records a view installed (with the configuration from then on); returns the record's number. */
  appendView(view: View, configuration: readonly ReplicaId[], commit?: ViewValue): number {
    return this.append(encodeLogEntry(commit ? { view, configuration, commit } : { view, configuration }), this.latestPosition)
  }

  /** Records the replica's votes in view changes; returns the record's number (the vote goes out once it is durable). */
  appendVotes(votes: AcceptorState): number {
    return this.append(encodeLogEntry({ votes }), this.latestPosition)
  }

  /** Makes everything handed to the storage so far durable. */
  async sync(): Promise<void> {
    const target = this.handed
    await this.storage.sync()
    if (target.record > this.synced.record) this.synced = target
  }

  /**
   * A periodic snapshot of the engine's state after every record made so far; later records go on being
   * appended and are replayed on top of it after a restart. Not taken while a transfer's snapshot is pending
   * (records made after it are not in the log yet); the caller asks again later.
   */
  snapshot(snapshot: EngineSnapshot): Promise<void> {
    if (this.waiting) return this.snapshots
    return this.writeSnapshot(snapshot)
  }

  /**
   * The state was replaced by a transfer: `snapshot` must be on the disk before any record made after it.
   * Resolves once it is, and the records that waited are handed to the storage.
   */
  async transferred(snapshot: EngineSnapshot): Promise<void> {
    this.waiting ??= []
    this.latestPosition = Math.max(this.latestPosition, snapshot.position)
    const number = ++this.madeRecords
    const written = this.writeSnapshot(snapshot)
    await written
    if (this.snapshots !== written) return // a later transfer's snapshot is pending: its completion releases the records
    const waiting = this.waiting ?? []
    this.waiting = undefined
    // The snapshot is durable: everything made before it, and it, is on the disk.
    if (number > this.synced.record) this.synced = { record: number, position: snapshot.position }
    if (number > this.handed.record) this.handed = this.synced
    for (const record of waiting) this.hand(record)
  }

  private writeSnapshot(snapshot: EngineSnapshot): Promise<void> {
    const position = ++this.lsn
    this.recordsSinceSnapshot = 0
    const data = encodeSnapshot(snapshot)
    this.snapshots = this.snapshots.then(() => this.storage.writeSnapshot({ position, data }))
    return this.snapshots
  }

  private append(data: Uint8Array, position: number): number {
    this.latestPosition = Math.max(this.latestPosition, position)
    const record: PendingRecord = { number: ++this.madeRecords, position, data }
    if (this.waiting) this.waiting.push(record)
    else this.hand(record)
    return record.number
  }

  private hand(record: PendingRecord): void {
    this.storage.append([{ position: ++this.lsn, data: record.data }])
    this.recordsSinceSnapshot++
    this.handed = { record: record.number, position: Math.max(this.handed.position, record.position) }
  }
}
