import { ErrorCodes, LockstepError, type ReadableAroundDamage, type ReplicaId, type Request, type Storage, type StorageDamage, type View } from '@lockstep/interface'
import type { DamagedDisk } from '../engine/disk-contents'
import type { EngineSnapshot, LazySnapshot, RecoveredEntry } from '../engine/engine-types'
import type { ViewValue } from '../engine/peer-messages'
import type { AcceptorState } from '../engine/view-change/acceptor'
import { decodeLogEntry, decodeSnapshot, encodeLogEntry, snapshotPieces } from './durable-codec'

/** What a disk held at start. */
export interface DiskContents {
  readonly snapshot: EngineSnapshot | undefined
  readonly entries: readonly RecoveredEntry[]
  /** The storage gave its contents up for damage: the replica holds no state and must rejoin (see `Recovered.damaged`). */
  readonly damaged?: StorageDamage
  /** With `damaged`, what could still be read around the damage, decoded (undefined when it cannot be). */
  readonly aroundDamage?: DamagedDisk
}

/** How a {@link DurableLog} produces snapshots. */
export interface DurableLogOptions {
  /**
   * Resolves at the host's next turn. A snapshot is produced a piece at a time, `snapshotBytesPerTurn` per
   * turn, so producing a large one never stops the replica for long. Default: resolves at once.
   */
  readonly nextTurn?: () => Promise<void>
  /** Bytes of a snapshot produced (and then copied into one buffer) per turn. Default 1 MiB. */
  readonly snapshotBytesPerTurn?: number
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
 *
 * A snapshot is captured when it is asked for (`LazySnapshot`) and produced over
 * the next turns while records go on being appended; its log sequence number is
 * taken at the capture, so it covers exactly the records made before it, and the
 * records made while it was produced stay in the log after it.
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
  /**
   * While a transferred state's snapshot is pending, its position: the records already on the disk or handed to it
   * beyond that position belong to the order the transfer replaced, so no sync counts them toward `durablePosition`.
   */
  private replacedAt: number | undefined
  private latestPosition = 0
  private snapshots: Promise<void> = Promise.resolve()
  private readonly nextTurn: () => Promise<void>
  private readonly bytesPerTurn: number
  /** Set by `halt`: nothing more is handed to the storage. */
  private halted = false

  constructor(storage: Storage, options: DurableLogOptions = {}) {
    this.storage = storage
    this.nextTurn = options.nextTurn ?? (() => Promise.resolve())
    this.bytesPerTurn = options.snapshotBytesPerTurn ?? 1024 * 1024
  }

  /**
   * The replica stopped: snapshots still being produced are abandoned (they reject with `STOPPED`) and
   * never reach the storage, which a restarted replica may have opened again.
   */
  halt(): void {
    this.halted = true
  }

  /**
   * Resolves once no record waits for a transferred state's snapshot: the snapshot was written and the records made
   * after it were handed to the storage (or the snapshot failed: they never will be). A clean stop calls it before
   * closing the storage, so that what this replica executed since a state transfer is on its disk.
   */
  async drain(): Promise<void> {
    for (let rounds = 0; this.waiting !== undefined && !this.halted && rounds < 100; rounds++) {
      await this.snapshots.catch(() => {})
      // `transferred` hands the waiting records in its own continuation of the same promise, which runs first.
      await Promise.resolve()
    }
  }

  /** Reads what survived. */
  async open(): Promise<DiskContents> {
    const recovered = await this.storage.open()
    const snapshot = recovered.snapshot ? decodeSnapshot(recovered.snapshot.data) : undefined
    this.lsn = recovered.records.at(-1)?.position ?? recovered.snapshot?.position ?? 0
    this.recordsSinceSnapshot = recovered.records.length
    const entries = recovered.records.map((r) => decodeLogEntry(r.data))
    if (!recovered.damaged) return { snapshot, entries }
    const aroundDamage = decodeAroundDamage(recovered.damaged.readable)
    return aroundDamage ? { snapshot, entries, damaged: recovered.damaged, aroundDamage } : { snapshot, entries, damaged: recovered.damaged }
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
  appendDelivery(position: number, request: Request, orderDigestVersion = 1): number {
    return this.append(encodeLogEntry(orderDigestVersion === 1 ? { request, at: position } : { request, at: position, dv: orderDigestVersion }), position)
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
    if (target.record <= this.synced.record) return
    this.synced = this.replacedAt === undefined ? target : { record: target.record, position: Math.min(target.position, this.replacedAt) }
  }

  /**
   * A periodic snapshot of the engine's state after every record made so far; later records go on being
   * appended and are replayed on top of it after a restart. Not taken while a transfer's snapshot is pending
   * (records made after it are not in the log yet); the caller asks again later.
   */
  snapshot(snapshot: LazySnapshot): Promise<void> {
    if (this.waiting) return this.snapshots
    return this.writeSnapshot(snapshot)
  }

  /**
   * The state was replaced by a transfer: `snapshot` must be on the disk before any record made after it.
   * Resolves once it is, and the records that waited are handed to the storage.
   */
  async transferred(snapshot: LazySnapshot): Promise<void> {
    this.waiting ??= []
    // The order from here on is the transferred state's: what the disk holds beyond its position is another order's
    // (found: a replica reported its disk held positions of the order it had dropped, see `DurableReplies.orderReplaced`).
    this.replacedAt = snapshot.position
    this.latestPosition = snapshot.position
    this.synced = { record: this.synced.record, position: Math.min(this.synced.position, snapshot.position) }
    this.handed = { record: this.handed.record, position: Math.min(this.handed.position, snapshot.position) }
    const number = ++this.madeRecords
    const written = this.writeSnapshot(snapshot)
    await written
    if (this.snapshots !== written) return // a later transfer's snapshot is pending: its completion releases the records
    const waiting = this.waiting ?? []
    this.waiting = undefined
    this.replacedAt = undefined
    // The snapshot is durable: everything made before it, and it, is on the disk.
    if (number > this.synced.record) this.synced = { record: number, position: snapshot.position }
    if (number > this.handed.record) this.handed = this.synced
    for (const record of waiting) this.hand(record)
  }

  private writeSnapshot(snapshot: LazySnapshot): Promise<void> {
    // Its number is taken now: it covers the records made before it, not those made while it is produced.
    const position = ++this.lsn
    this.recordsSinceSnapshot = 0
    const produced = this.produce(snapshot)
    this.snapshots = Promise.all([this.snapshots, produced]).then(([, data]) => {
      if (this.halted) throw stopped(snapshot.position)
      return this.storage.writeSnapshot({ position, data })
    })
    return this.snapshots
  }

  /** The snapshot's bytes, produced `bytesPerTurn` per turn, then copied into one buffer the same way. */
  private async produce(snapshot: LazySnapshot): Promise<Uint8Array> {
    const pieces: Uint8Array[] = []
    let total = 0
    let thisTurn = 0
    const pace = async (bytes: number) => {
      thisTurn += bytes
      if (thisTurn < this.bytesPerTurn) return
      thisTurn = 0
      await this.nextTurn()
      if (this.halted) throw stopped(snapshot.position)
    }
    const iterator = snapshotPieces(snapshot)
    for (let next = produceNext(iterator, snapshot); !next.done; next = produceNext(iterator, snapshot)) {
      pieces.push(next.value)
      total += next.value.length
      await pace(next.value.length)
    }
    const data = new Uint8Array(total)
    let at = 0
    for (let i = 0; i < pieces.length; i++) {
      const piece = pieces[i]!
      data.set(piece, at)
      at += piece.length
      pieces[i] = EMPTY // copied: let it go
      await pace(piece.length)
    }
    return data
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

const EMPTY = new Uint8Array(0)

/** Decodes what a storage could read around damage; undefined if it read nothing, or what it read does not decode. */
function decodeAroundDamage(readable: ReadableAroundDamage | undefined): DamagedDisk | undefined {
  if (!readable) return undefined
  try {
    return {
      snapshot: readable.snapshot ? decodeSnapshot(readable.snapshot.data) : undefined,
      entries: readable.records.map((r) => ({ logPosition: r.position, entry: decodeLogEntry(r.data) })),
      holes: readable.holes,
    }
  } catch {
    return undefined
  }
}

/** The next piece of a snapshot; a machine failing to produce its chunks is reported as such. */
function produceNext(iterator: Iterator<Uint8Array>, snapshot: LazySnapshot): IteratorResult<Uint8Array> {
  try {
    return iterator.next()
  } catch (error) {
    throw new LockstepError(ErrorCodes.INTERNAL, `the snapshot at position ${snapshot.position} could not be produced: ${(error as Error)?.message ?? String(error)}`, undefined, { cause: error })
  }
}

function stopped(position: number): LockstepError {
  return new LockstepError(ErrorCodes.STOPPED, `the replica stopped while its snapshot at position ${position} was being produced; it was not written`)
}
