import { join } from 'node:path'
import {
  ErrorCodes,
  LockstepError,
  type Logger,
  type LogRecord,
  type Recovered,
  type ReplicaComponents,
  type Scheduler,
  type Snapshot,
  type Storage,
  type StorageFactory,
  type SyncPolicy,
  type TimerHandle,
} from '@lockstep/interface'
import { acquireDirectoryLock, type ReleaseLock } from './directory-lock'
import { nodeFileSystem, type StorageFileHandle, type StorageFileSystem } from './file-system'
import { resolveFileStorageOptions, type FileStorageOptions, type ResolvedFileStorageOptions } from './options'
import { checkAppendedRecords, checkSnapshot } from './record-checks'
import { DAMAGED_MARKER_NAME, recoverDirectory, writeAtomically } from './recover-directory'
import type { ChainSegment } from './recovery-plan'
import { encodeSnapshot, snapshotFileName } from './snapshot-format'
import { encodeManifest, MANIFEST_NAME, manifestOf } from './snapshot-manifest'
import { encodeFrame, encodeSegmentHeader, SEGMENT_HEADER_BYTES, segmentFileName } from './wal-format'

/** Counters of what a {@link FileStorage} did since `open()`. */
export interface FileStorageStats {
  /** Records accepted by `append`. */
  readonly appendedRecords: number
  /** Records handed to the operating system (written). */
  readonly writtenRecords: number
  /** Records known to be on stable storage (fsynced, or covered by a durable snapshot). */
  readonly syncedRecords: number
  /** Write calls to log segments. */
  readonly logWrites: number
  readonly logBytesWritten: number
  /** Zeros written into segment files ahead of their records (`preallocateBytes`), in bytes; not in `logBytesWritten`. */
  readonly logBytesPreallocated: number
  /** fsyncs of log segment files (group commits, interval ticks, segment rollovers and new segment headers). */
  readonly logFsyncs: number
  /** fsyncs of snapshot files. */
  readonly snapshotFsyncs: number
  /** fsyncs of the directory (new segments, snapshot renames, recovery repairs). */
  readonly directoryFsyncs: number
  readonly snapshotsWritten: number
  readonly segmentsDeleted: number
  /** Segment files in the log right now. */
  readonly segments: number
}

/** A {@link Storage} backed by files, with counters for tests and monitoring. */
export interface FileStorage extends Storage {
  readonly dir: string
  readonly policy: SyncPolicy
  /** Counters since `open()`. */
  stats(): FileStorageStats
}

/**
 * A durable write-ahead log with snapshots in a directory: segment files of
 * checksummed records, atomic checksummed snapshots, torn-tail recovery, log
 * compaction and a lock file. See docs/storage.md for the format and guarantees.
 * `fileStorage(options)` checks the options and returns the factory a
 * `ReplicaHost` takes; the host builds the storage with its own `log` (recovery
 * and failures are logged there) and `scheduler` (the `'interval'` policy's timer).
 */
export function fileStorage(options: FileStorageOptions): StorageFactory<FileStorage> {
  const resolved = resolveFileStorageOptions(options)
  const fs = options.fs ?? nodeFileSystem()
  return (components: ReplicaComponents) => new FileStorageImpl(resolved, fs, components.scheduler, components.log)
}

/** Zeros to write ahead of the records, at most this many bytes per write. */
const ZEROS = new Uint8Array(1024 * 1024)

/** Pending records are written to the OS in the background beyond this many bytes. */
const WRITE_BEHIND_BYTES = 1024 * 1024

interface PendingFrame {
  readonly frame: Uint8Array
  readonly position: number
}

/** One queued write (and maybe fsync) round: callers that arrive before it starts share it. */
interface Round {
  fsync: boolean
  promise: Promise<void>
}

interface SyncWaiter {
  readonly target: number
  readonly resolve: () => void
  readonly reject: (error: unknown) => void
}

type Phase = 'created' | 'opening' | 'open' | 'closing' | 'closed'

class FileStorageImpl implements FileStorage {
  readonly dir: string
  readonly policy: SyncPolicy
  private phase: Phase = 'created'
  private failure: LockstepError | undefined
  private releaseLock: ReleaseLock | undefined
  private opening: Promise<Recovered> | undefined
  private closing: Promise<void> | undefined
  /** The log chain, oldest first; the last segment is the one appended to. */
  private chain: ChainSegment[] = []
  private activeHandle: StorageFileHandle | undefined
  private nextSeq = 1
  private pending: PendingFrame[] = []
  private pendingBytes = 0
  /** Appends must be above this: the last appended position, or the snapshot position if higher. */
  private floor = 0
  private snapshotPosition: number | undefined
  /** The contents were set aside for damage; the DAMAGED marker goes with the next snapshot. */
  private damaged = false
  /** Snapshot files on disk by position (the current one and older ones not yet deleted). */
  private readonly snapshotFiles = new Map<number, string>()
  // Record counts since open: appended >= written >= synced.
  private appended = 0
  private written = 0
  private synced = 0
  /** Serializes every file operation. */
  private queue: Promise<unknown> = Promise.resolve()
  private queuedRound: Round | undefined
  private waiters: SyncWaiter[] = []
  private timer: TimerHandle | undefined
  /** The segment (by number) in which zeros could not be written ahead of the records (no room): none are tried again there. */
  private unpreallocated: number | undefined
  private lastTickAtMs = 0
  private readonly counters = { logWrites: 0, logBytesWritten: 0, logBytesPreallocated: 0, logFsyncs: 0, snapshotFsyncs: 0, directoryFsyncs: 0, snapshotsWritten: 0, segmentsDeleted: 0 }

  constructor(
    private readonly options: ResolvedFileStorageOptions,
    private readonly fs: StorageFileSystem,
    private readonly scheduler: Scheduler,
    private readonly log: Logger,
  ) {
    this.dir = options.dir
    this.policy = options.sync
  }

  open(): Promise<Recovered> {
    if (this.phase !== 'created') {
      return Promise.reject(new LockstepError(ErrorCodes.INTERNAL, `fileStorage(${this.dir}): open() was already called. Create a new fileStorage to reopen the directory.`))
    }
    this.phase = 'opening'
    this.opening = this.openDirectory()
    return this.opening
  }

  private async openDirectory(): Promise<Recovered> {
    try {
      await this.fs.mkdir(this.dir)
      this.releaseLock = await acquireDirectoryLock(this.fs, this.dir, this.log)
      const recovered = await this.recover()
      this.phase = 'open'
      this.lastTickAtMs = this.scheduler.now()
      return recovered
    } catch (error) {
      await this.activeHandle?.close().catch(() => undefined)
      this.activeHandle = undefined
      await this.releaseLock?.().catch(() => undefined)
      this.releaseLock = undefined
      this.phase = 'closed'
      throw openError(this.dir, error)
    }
  }

  append(records: readonly LogRecord[]): void {
    this.assertOpen('append')
    this.floor = checkAppendedRecords(records, this.floor, `fileStorage(${this.dir}).append`)
    for (const record of records) {
      const frame = encodeFrame(record)
      this.pending.push({ frame, position: record.position })
      this.pendingBytes += frame.length
    }
    this.appended += records.length
    if (this.policy === 'interval') this.armTimer()
    if (this.pendingBytes >= WRITE_BEHIND_BYTES) {
      // Errors put the storage into the failed state; the next call reports them.
      this.flush(false).catch(() => undefined)
    }
  }

  async sync(): Promise<void> {
    this.assertOpen('sync')
    const target = this.appended
    if (this.policy === 'batch') {
      while (this.synced < target) await this.flush(true)
      return
    }
    while (this.written < target) await this.flush(false)
    if (this.policy === 'never' || this.synced >= target) return
    await new Promise<void>((resolve, reject) => {
      this.waiters.push({ target, resolve, reject })
      this.armTimer()
    })
  }

  async writeSnapshot(snapshot: Snapshot): Promise<void> {
    this.assertOpen('writeSnapshot')
    checkSnapshot(snapshot, this.snapshotPosition, `fileStorage(${this.dir}).writeSnapshot`)
    const { position } = snapshot
    // Encode now: the caller may reuse its buffer once this returns.
    const bytes = encodeSnapshot(snapshot)
    this.snapshotPosition = position
    this.floor = Math.max(this.floor, position)
    await this.enqueue(async () => {
      await this.writePending()
      const name = snapshotFileName(position)
      const path = join(this.dir, name)
      const temporaryPath = `${path}.tmp`
      const handle = await this.fs.open(temporaryPath, 'w')
      try {
        await handle.write(bytes, 0)
        await handle.sync()
        this.counters.snapshotFsyncs++
      } finally {
        await handle.close()
      }
      await this.fs.rename(temporaryPath, path)
      await this.syncDirectory()
      // The manifest names the new snapshot before any older one is deleted: recovery insists on finding it.
      await writeAtomically(this.fs, this.dir, MANIFEST_NAME, encodeManifest(manifestOf(position, bytes)))
      this.counters.directoryFsyncs++
      this.counters.snapshotsWritten++
      this.snapshotFiles.set(position, name)
      if (this.damaged) {
        // The replica holds a state again (taken from its peers): the directory may be served from now on.
        await this.fs.unlink(join(this.dir, DAMAGED_MARKER_NAME))
        await this.syncDirectory()
        this.damaged = false
        this.log.info('storage-file: a snapshot was written after the damage was set aside; the directory holds a state again', { dir: this.dir, position })
      }
      await this.compact(position)
      for (const [older, olderName] of this.snapshotFiles) {
        if (older >= position) continue
        await this.fs.unlink(join(this.dir, olderName))
        this.snapshotFiles.delete(older)
      }
    })
  }

  close(): Promise<void> {
    if (this.closing === undefined) this.closing = this.shutDown()
    return this.closing
  }

  stats(): FileStorageStats {
    return { ...this.counters, appendedRecords: this.appended, writtenRecords: this.written, syncedRecords: this.synced, segments: this.chain.length }
  }

  // ---- recovery ----

  private async recover(): Promise<Recovered> {
    const found = await recoverDirectory(this.fs, this.dir, this.options.onCorruptLog, this.log)
    this.counters.segmentsDeleted += found.repairs.segmentsDeleted
    this.counters.logFsyncs += found.repairs.logFsyncs
    this.counters.directoryFsyncs += found.repairs.directoryFsyncs
    for (const [position, name] of found.snapshotFiles) this.snapshotFiles.set(position, name)
    this.snapshotPosition = found.snapshot?.position
    this.damaged = found.damaged !== undefined
    this.nextSeq = found.nextSeq
    this.chain = found.chain
    const base = found.snapshot?.position ?? 0
    const active = this.chain.at(-1)
    if (active === undefined) {
      await this.createSegment(base)
    } else {
      this.activeHandle = await this.fs.open(join(this.dir, active.name), 'r+')
    }
    this.floor = Math.max(base, this.chain.at(-1)!.lastPosition)
    this.log.info('storage-file: opened', { dir: this.dir, snapshotPosition: this.snapshotPosition, records: found.records.length, lastPosition: this.floor, segments: this.chain.length })
    return found.damaged ? { snapshot: undefined, records: [], damaged: found.damaged } : { snapshot: found.snapshot, records: found.records }
  }

  // ---- writing ----

  private assertOpen(operation: string): void {
    if (this.failure !== undefined) throw this.failure
    if (this.phase !== 'open') {
      const why = this.phase === 'created' || this.phase === 'opening' ? 'call open() and wait for it first' : 'it was closed'
      throw new LockstepError(ErrorCodes.STOPPED, `fileStorage(${this.dir}).${operation}: the storage is not open (${why}).`)
    }
  }

  /** Runs file operations one at a time; an error stops the storage for good. */
  private enqueue<T>(operation: () => Promise<T>): Promise<T> {
    const run = async () => {
      if (this.failure !== undefined) throw this.failure
      try {
        return await operation()
      } catch (error) {
        throw this.fail(error)
      }
    }
    const result = this.queue.then(run)
    this.queue = result.catch(() => undefined)
    return result
  }

  /**
   * Writes pending records, and fsyncs them if `fsync`. Callers arriving before
   * the queued round starts join it, so many `sync()` calls cost one fsync.
   */
  private flush(fsync: boolean): Promise<void> {
    const queued = this.queuedRound
    if (queued !== undefined) {
      if (fsync) queued.fsync = true
      return queued.promise
    }
    const round: Round = { fsync, promise: Promise.resolve() }
    round.promise = this.enqueue(async () => {
      if (this.queuedRound === round) this.queuedRound = undefined
      await this.writePending()
      if (round.fsync) await this.fsyncActive()
    })
    this.queuedRound = round
    return round.promise
  }

  private async writePending(): Promise<void> {
    const { segmentBytes } = this.options
    while (this.pending.length > 0) {
      const frames = this.pending
      this.pending = []
      this.pendingBytes = 0
      let start = 0
      while (start < frames.length) {
        const segment = this.chain.at(-1)!
        let end = start
        let bytes = 0
        // Fill the active segment up to segmentBytes; a segment always takes at least one record.
        while (end < frames.length) {
          const size = frames[end]!.frame.length
          if ((segment.recordCount > 0 || end > start) && segment.sizeBytes + bytes + size > segmentBytes) break
          bytes += size
          end++
        }
        if (end === start) {
          await this.rollover()
          continue
        }
        await this.activeHandle!.write(concatFrames(frames, start, end, bytes), segment.sizeBytes)
        segment.sizeBytes += bytes
        segment.fileBytes = Math.max(segment.fileBytes, segment.sizeBytes)
        segment.recordCount += end - start
        segment.lastPosition = frames[end - 1]!.position
        this.written += end - start
        this.counters.logWrites++
        this.counters.logBytesWritten += bytes
        await this.preallocate(this.activeHandle!, segment)
        start = end
      }
    }
  }

  /**
   * Keeps zeros ahead of the active segment's records: once fewer than half of `preallocateBytes` are left
   * before the file's end, writes `preallocateBytes` more (not past `segmentBytes`). The fsync that follows
   * commits the new size once; the writes after it land in bytes the file holds, and their fsyncs commit
   * data only. A crash before that fsync leaves zeros or nothing, both read as the end of the log.
   */
  private async preallocate(handle: StorageFileHandle, segment: ChainSegment): Promise<void> {
    const { preallocateBytes, segmentBytes } = this.options
    if (preallocateBytes === 0 || this.unpreallocated === segment.seq || segment.fileBytes - segment.sizeBytes >= preallocateBytes / 2) return
    const end = Math.min(segment.fileBytes + preallocateBytes, Math.max(segmentBytes, segment.fileBytes))
    try {
      for (let at = segment.fileBytes; at < end; ) {
        const length = Math.min(end - at, ZEROS.length)
        await handle.write(ZEROS.subarray(0, length), at)
        at += length
      }
    } catch (error) {
      // Zeros ahead only save time: without room for them the log goes on where it is, and stops only when a
      // record finds no room. The zeros that were written (if some were) are past the records, where zeros belong.
      const code = (error as NodeJS.ErrnoException).code
      if (code !== 'ENOSPC' && code !== 'EFBIG' && code !== 'EDQUOT') throw error
      this.unpreallocated = segment.seq
      this.log.warn(`storage-file: no room to write zeros ahead of the log in ${segment.name} (${code}); it goes on without them until the next segment`, { dir: this.dir, file: segment.name, code })
      return
    }
    this.counters.logBytesPreallocated += end - segment.fileBytes
    segment.fileBytes = end
  }

  private async fsyncActive(): Promise<void> {
    if (this.synced >= this.written) return
    const target = this.written
    await this.activeHandle!.sync()
    this.counters.logFsyncs++
    this.markSynced(target)
  }

  /**
   * Starts a new segment. The full one is fsynced first, so a segment with
   * records is never followed by one that survived a crash while it did not:
   * damage before the last segment is then real corruption, not a torn write.
   */
  private async rollover(): Promise<void> {
    const full = this.chain.at(-1)!
    const handle = this.activeHandle!
    await handle.sync()
    this.counters.logFsyncs++
    this.markSynced(this.written)
    await handle.close()
    this.activeHandle = undefined
    await this.createSegment(full.lastPosition)
  }

  /** Creates the next segment file, durable (header fsynced, directory fsynced) before any record goes in. */
  private async createSegment(prevPosition: number): Promise<void> {
    const seq = this.nextSeq++
    const name = segmentFileName(seq)
    const handle = await this.fs.open(join(this.dir, name), 'wx')
    const segment: ChainSegment = { seq, name, prevPosition, lastPosition: prevPosition, recordCount: 0, sizeBytes: SEGMENT_HEADER_BYTES, fileBytes: SEGMENT_HEADER_BYTES }
    try {
      await handle.write(encodeSegmentHeader(prevPosition), 0)
      await this.preallocate(handle, segment)
      await handle.sync()
      this.counters.logFsyncs++
      await this.syncDirectory()
    } catch (error) {
      await handle.close().catch(() => undefined)
      throw error
    }
    this.activeHandle = handle
    this.chain.push(segment)
  }

  /**
   * Log compaction after a durable snapshot at `position`: deletes, oldest
   * first, every segment whose records are all at or below it. If even the
   * active segment is covered, the whole log is replaced by a fresh segment.
   */
  private async compact(position: number): Promise<void> {
    const active = this.chain.at(-1)!
    if (active.lastPosition <= position && (this.chain.length > 1 || active.recordCount > 0)) {
      await this.activeHandle!.close()
      this.activeHandle = undefined
      for (const segment of this.chain) {
        await this.fs.unlink(join(this.dir, segment.name))
        this.counters.segmentsDeleted++
      }
      this.chain = []
      // Every written record is at or below the snapshot, which is durable.
      this.markSynced(this.written)
      await this.createSegment(position)
      return
    }
    // A segment reappearing after a crash (unlink not yet durable) is covered by the snapshot and removed again on open.
    while (this.chain.length > 1 && this.chain[1]!.prevPosition <= position) {
      await this.fs.unlink(join(this.dir, this.chain[0]!.name))
      this.counters.segmentsDeleted++
      this.chain.shift()
    }
  }

  private async syncDirectory(): Promise<void> {
    await this.fs.syncDirectory(this.dir)
    this.counters.directoryFsyncs++
  }

  /** Records up to count `target` are durable: resolve the 'interval' waiters they cover. */
  private markSynced(target: number): void {
    this.synced = Math.max(this.synced, target)
    if (this.waiters.length === 0) return
    const still: SyncWaiter[] = []
    for (const waiter of this.waiters) {
      if (waiter.target <= this.synced) waiter.resolve()
      else still.push(waiter)
    }
    this.waiters = still
  }

  // ---- the 'interval' policy ----

  /** Schedules the next interval fsync, at least syncIntervalMs after the previous tick. */
  private armTimer(): void {
    if (this.policy !== 'interval' || this.timer !== undefined || this.phase !== 'open' || this.failure !== undefined) return
    const intervalMs = this.options.syncIntervalMs
    const delayMs = Math.min(intervalMs, Math.max(0, this.lastTickAtMs + intervalMs - this.scheduler.now()))
    this.timer = this.scheduler.setTimer(delayMs, () => this.tick())
  }

  private tick(): void {
    this.timer = undefined
    if (this.phase !== 'open') return
    this.lastTickAtMs = this.scheduler.now()
    this.flush(true).then(
      () => {
        if (this.appended > this.synced) this.armTimer()
      },
      () => undefined, // the storage is failed; waiters were rejected
    )
  }

  // ---- failure and shutdown ----

  /** Enters the failed state: every later call throws the returned error. */
  private fail(error: unknown): LockstepError {
    if (this.failure === undefined) {
      const detail = error instanceof Error ? error.message : String(error)
      this.failure =
        error instanceof LockstepError
          ? error
          : new LockstepError(
              ErrorCodes.STOPPED,
              `fileStorage(${this.dir}): a file operation failed (${detail}); the storage stopped and rejects every later call. Fix the cause (disk full? permissions?) and restart the replica: recovery keeps every complete record.`,
              { path: this.dir },
              { cause: error },
            )
      this.log.error('storage-file: stopped after a failed file operation', { dir: this.dir, error: detail })
      if (this.timer !== undefined) this.scheduler.clearTimer(this.timer)
      this.timer = undefined
      for (const waiter of this.waiters) waiter.reject(this.failure)
      this.waiters = []
    }
    return this.failure
  }

  /** Clean shutdown: writes and fsyncs everything appended (whatever the policy), then releases the lock. */
  private async shutDown(): Promise<void> {
    await this.opening?.catch(() => undefined)
    const wasOpen = this.phase === 'open'
    this.phase = 'closing'
    if (this.timer !== undefined) this.scheduler.clearTimer(this.timer)
    this.timer = undefined
    let flushError: unknown
    if (wasOpen && this.failure === undefined) {
      try {
        await this.flush(true)
      } catch (error) {
        flushError = error
      }
    }
    await this.queue
    const stopped = new LockstepError(ErrorCodes.STOPPED, `fileStorage(${this.dir}): closed before these records were fsynced.`)
    for (const waiter of this.waiters) waiter.reject(this.failure ?? stopped)
    this.waiters = []
    try {
      await this.activeHandle?.close().catch(() => undefined)
      this.activeHandle = undefined
      await this.releaseLock?.()
    } finally {
      this.releaseLock = undefined
      this.phase = 'closed'
    }
    if (flushError !== undefined) throw flushError
  }
}

/** Errors of `open()` as LockstepErrors: a directory we may not use is a configuration problem. */
function openError(dir: string, error: unknown): LockstepError {
  if (error instanceof LockstepError) return error
  const code = (error as NodeJS.ErrnoException).code
  const detail = error instanceof Error ? error.message : String(error)
  const unusable = code === 'EACCES' || code === 'EPERM' || code === 'ENOTDIR' || code === 'EROFS' || code === 'EEXIST'
  return new LockstepError(
    unusable ? ErrorCodes.INVALID_CONFIG : ErrorCodes.STOPPED,
    unusable
      ? `fileStorage: cannot use ${dir} as a storage directory (${detail}). Point dir at a writable directory of its own.`
      : `fileStorage(${dir}): open failed (${detail}). Fix the cause and open again; nothing was lost.`,
    { path: dir },
    { cause: error },
  )
}

function concatFrames(frames: readonly PendingFrame[], start: number, end: number, bytes: number): Uint8Array {
  if (end - start === 1) return frames[start]!.frame
  const out = new Uint8Array(bytes)
  let offset = 0
  for (let i = start; i < end; i++) {
    out.set(frames[i]!.frame, offset)
    offset += frames[i]!.frame.length
  }
  return out
}
