import { ErrorCodes, LockstepError, type Logger, type LogRecord, type Recovered, type ReplicaComponents, type Scheduler, type Snapshot, type Storage, type StorageFactory } from '@lockstep/interface'
import { checkAppendedRecords, checkSnapshot } from './record-checks'

/** Options of {@link MemoryDurableStorage.fill}. */
export interface FillOptions {
  /**
   * Which call finds the disk full first. `'append'` (the default): the next `append` throws, as `fileStorage`'s does
   * once a write behind it failed. `'write'`: appends are still taken until a `sync` or `writeSnapshot` writes to the
   * disk and is refused, as `fileStorage`'s sync is when it writes the small records appended since the last one;
   * from then on `append` throws too.
   */
  readonly failsFirst?: 'append' | 'write'
}

/** Options of {@link MemoryDurableStorage.crash}. */
export interface CrashOptions {
  /**
   * How many of the oldest unsynced records survive anyway, as if the OS had
   * flushed them before the crash (default 0). Only a prefix can survive: the
   * file storage never returns a record after a lost one.
   */
  readonly keepUnsynced?: number
  /**
   * How many records at the end of what the disk holds after the crash (`keepUnsynced` included) are lost as well
   * (default 0), synced ones among them, with no trace: a disk (or its controller's write cache) that acknowledged a
   * sync it did not keep, the records read back as zeros, which is where the log ends. The snapshot stays. A replica
   * cannot tell on its own; its peers can (`ReplicaEngine.diskLosses`).
   */
  readonly loseSynced?: number
}

/** Options of {@link memoryDurableStorage}. */
export interface MemoryDurableStorageOptions {
  /**
   * How long each `sync()` and `writeSnapshot()` takes, in the scheduler's milliseconds: a number, or a
   * function called once per operation (a simulator draws it from its seed). A crash before it completes
   * loses what it would have covered. Default 0: it completes in the next microtask.
   */
  readonly syncLatencyMs?: number | (() => number)
  /** The timers that make a sync take time; default: the components' scheduler (the simulator's virtual one). */
  readonly scheduler?: Pick<Scheduler, 'setTimer'>
}

/** Counters of a {@link MemoryDurableStorage}. */
export interface MemoryDurableStorageStats {
  readonly appendedRecords: number
  /** `sync()` calls that completed. */
  readonly syncs: number
  readonly snapshotsWritten: number
  /** Records appended but lost in crashes. */
  readonly lostRecords: number
  readonly crashes: number
}

/**
 * An in-memory {@link Storage} that models durability for simulation: a record
 * survives a {@link crash} only once a `sync()` covering it resolved (or a
 * snapshot covering it was written), like `fileStorage` with `sync: 'batch'`.
 * It can be reopened after `crash()` or `close()`, so one object stands for a
 * replica's disk across restarts. Deterministic: no I/O, and no timers unless
 * a sync latency runs on the scheduler it was given.
 */
export interface MemoryDurableStorage extends Storage {
  /**
   * Simulates a crash of the process and machine: unsynced records are lost
   * (but see {@link CrashOptions.keepUnsynced}), pending `sync()` and
   * `writeSnapshot()` calls reject with STOPPED, and the storage must be
   * opened again.
   */
  crash(options?: CrashOptions): void
  /**
   * Simulates a disk that fills up: `sync` and `writeSnapshot` reject, and `append` throws (at once, or once a write
   * was refused: see {@link FillOptions.failsFirst}), with STOPPED naming ENOSPC, as `fileStorage` does once a write
   * failed; what was synced stays. A crash or a close makes room again: the storage opens as after a crash.
   */
  fill(options?: FillOptions): void
  /**
   * The disk has room again (after {@link fill}). A storage that already refused a write stays stopped until it is
   * opened again, as `fileStorage` does after a failed write; one that refused nothing never noticed the disk was full.
   */
  makeRoom(): void
  /** What `open()` would return after a crash right now. */
  durable(): Recovered
  /**
   * The highest position (log sequence number, as the writer numbered its records and snapshots) the disk would
   * return after a crash right now: its last synced record's, or its snapshot's if that is higher (0 for an empty
   * disk). Cheaper than {@link durable}: nothing is copied.
   */
  durablePosition(): number
  stats(): MemoryDurableStorageStats
}

/**
 * A factory of empty {@link MemoryDurableStorage}s. It logs opens and crashes to the components'
 * `log`; with `syncLatencyMs`, its syncs take time on `options.scheduler` or else the components'
 * scheduler (the simulator's virtual one). A simulator that keeps one disk across a replica's
 * restarts builds it once and hands the host a factory returning it.
 */
export function memoryDurableStorage(options: MemoryDurableStorageOptions = {}): StorageFactory<MemoryDurableStorage> {
  return (components: ReplicaComponents) => new MemoryDurableStorageImpl(components.log, { ...options, scheduler: options.scheduler ?? components.scheduler })
}

class MemoryDurableStorageImpl implements MemoryDurableStorage {
  private isOpen = false
  /** Bumped by crash, so operations that were in flight never complete. */
  private epoch = 0
  private durableSnapshot: Snapshot | undefined
  private durableRecords: LogRecord[] = []
  private unsynced: LogRecord[] = []
  private floor = 0
  private readonly counters = { appendedRecords: 0, syncs: 0, snapshotsWritten: 0, lostRecords: 0, crashes: 0 }
  /** Set by `fill()`: every later write fails with it, until a crash or a close. */
  private full: LockstepError | undefined
  /** A write failed on the full disk since `fill()`: `makeRoom` leaves the storage stopped. */
  private refusedWrite = false
  /** `append` throws on the full disk before any write was refused (`FillOptions.failsFirst`). */
  private appendsRefused = true
  constructor(
    private readonly log: Logger,
    private readonly options: MemoryDurableStorageOptions,
  ) {}

  async open(): Promise<Recovered> {
    if (this.isOpen) throw new LockstepError(ErrorCodes.INTERNAL, 'memoryDurableStorage: open() called while open. Call crash() or close() first.')
    this.isOpen = true
    this.unsynced = []
    this.floor = Math.max(this.durableSnapshot?.position ?? 0, this.durableRecords.at(-1)?.position ?? 0)
    this.log.debug('memoryDurableStorage: opened', { snapshotPosition: this.durableSnapshot?.position, records: this.durableRecords.length, lastPosition: this.floor })
    return this.durable()
  }

  append(records: readonly LogRecord[]): void {
    this.assertOpen('append')
    if (this.full && (this.appendsRefused || this.refusedWrite)) throw this.refuse(this.full)
    this.floor = checkAppendedRecords(records, this.floor, 'memoryDurableStorage.append')
    for (const { position, data } of records) this.unsynced.push({ position, data: data.slice() })
    this.counters.appendedRecords += records.length
  }

  async sync(): Promise<void> {
    this.assertOpen('sync')
    if (this.full) throw this.refuse(this.full)
    const upTo = this.floor
    await this.settle('sync')
    const index = this.unsynced.findIndex((record) => record.position > upTo)
    const count = index < 0 ? this.unsynced.length : index
    this.durableRecords.push(...this.unsynced.splice(0, count))
    this.counters.syncs++
  }

  async writeSnapshot(snapshot: Snapshot): Promise<void> {
    this.assertOpen('writeSnapshot')
    if (this.full) throw this.refuse(this.full)
    checkSnapshot(snapshot, this.durableSnapshot?.position, 'memoryDurableStorage.writeSnapshot')
    const copy: Snapshot = { position: snapshot.position, data: snapshot.data.slice() }
    this.floor = Math.max(this.floor, copy.position)
    await this.settle('writeSnapshot')
    this.durableSnapshot = copy
    this.durableRecords = this.durableRecords.filter((record) => record.position > copy.position)
    this.unsynced = this.unsynced.filter((record) => record.position > copy.position)
    this.counters.snapshotsWritten++
  }

  fill(options: FillOptions = {}): void {
    this.full = new LockstepError(ErrorCodes.STOPPED, 'memoryDurableStorage: a write failed (ENOSPC: no space left on device); the storage stopped and rejects every later write until it is opened again')
    this.refusedWrite = false
    this.appendsRefused = options.failsFirst !== 'write'
    this.log.info('memoryDurableStorage: full')
  }

  makeRoom(): void {
    if (this.full === undefined || this.refusedWrite) return
    this.full = undefined
    this.log.info('memoryDurableStorage: room again')
  }

  private refuse(full: LockstepError): LockstepError {
    this.refusedWrite = true
    return full
  }

  async close(): Promise<void> {
    const full = this.full
    this.full = undefined
    if (!this.isOpen) return
    this.isOpen = false
    if (full) {
      // What was not synced is lost: the final write is refused on the full disk (the close rejects, as fileStorage's
      // does), or was never tried (a write was refused before: the storage had stopped).
      const lost = this.unsynced.length
      this.counters.lostRecords += lost
      this.unsynced = []
      if (lost > 0 && !this.refusedWrite) throw this.refuse(full)
      return
    }
    // A clean close makes everything durable, like fileStorage's final fsync.
    this.durableRecords.push(...this.unsynced)
    this.unsynced = []
  }

  crash(options: CrashOptions = {}): void {
    const keep = Math.max(0, Math.min(options.keepUnsynced ?? 0, this.unsynced.length))
    this.durableRecords.push(...this.unsynced.slice(0, keep))
    const loseSynced = Math.max(0, Math.min(options.loseSynced ?? 0, this.durableRecords.length))
    this.durableRecords.length -= loseSynced
    this.counters.lostRecords += this.unsynced.length - keep + loseSynced
    this.counters.crashes++
    this.log.info('memoryDurableStorage: crashed', { lostRecords: this.unsynced.length - keep, keptUnsynced: keep, ...(loseSynced > 0 && { lostSynced: loseSynced }) })
    this.unsynced = []
    this.isOpen = false
    this.full = undefined
    this.epoch++
  }

  durablePosition(): number {
    let position = this.durableSnapshot?.position ?? 0
    for (const record of this.durableRecords) position = Math.max(position, record.position)
    return position
  }

  durable(): Recovered {
    const snapshot = this.durableSnapshot === undefined ? undefined : { position: this.durableSnapshot.position, data: this.durableSnapshot.data.slice() }
    return { snapshot, records: this.durableRecords.map(({ position, data }) => ({ position, data: data.slice() })) }
  }

  stats(): MemoryDurableStorageStats {
    return { ...this.counters }
  }

  private assertOpen(operation: string): void {
    if (!this.isOpen) throw new LockstepError(ErrorCodes.STOPPED, `memoryDurableStorage.${operation}: the storage is not open (call open() first, also after crash() or close()).`)
  }

  /** Lets the current burst of work finish (and the sync latency pass), then fails if a crash happened meanwhile. */
  private async settle(operation: string): Promise<void> {
    const epoch = this.epoch
    const { syncLatencyMs, scheduler } = this.options
    const latencyMs = typeof syncLatencyMs === 'function' ? syncLatencyMs() : (syncLatencyMs ?? 0)
    if (latencyMs > 0 && scheduler) await new Promise<void>((resolve) => scheduler.setTimer(latencyMs, resolve))
    else await Promise.resolve()
    if (this.epoch !== epoch) throw new LockstepError(ErrorCodes.STOPPED, `memoryDurableStorage.${operation}: the storage crashed before this completed; what it covered is durable only if crash() kept it.`)
  }
}
