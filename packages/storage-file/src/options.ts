import { ErrorCodes, LockstepError, type SyncPolicy } from '@lockstep/interface'
import type { StorageFileSystem } from './file-system'
import type { CorruptLogPolicy } from './recovery-plan'

/**
 * Options of {@link fileStorage}. The logger and the timers of the `'interval'` policy are not options:
 * they are the components the host passes (`log`, `scheduler`).
 */
export interface FileStorageOptions {
  /** Directory that holds this replica's log, snapshots and lock file; created if missing. One replica per directory. */
  readonly dir: string
  /**
   * When appended records become durable (default `'batch'`):
   * - `'batch'`: every `sync()` writes and fsyncs everything appended before it; concurrent calls share one fsync (group commit).
   * - `'interval'`: records are fsynced at most every `syncIntervalMs`; `sync()` resolves after the fsync that covers its records.
   * - `'never'`: `sync()` resolves once the records are written to the operating system; nothing is fsynced until `close()`.
   */
  readonly sync?: SyncPolicy
  /** Period of the fsync for `sync: 'interval'`, in milliseconds (default 10). Only valid with that policy. */
  readonly syncIntervalMs?: number
  /** A segment file is closed and a new one started once it would grow past this (default 64 MiB; 256 B to 1 GiB). */
  readonly segmentBytes?: number
  /**
   * Zeros written into a segment file ahead of its records, this many bytes at a time (default 1 MiB; 0 writes
   * none; at most `segmentBytes` ahead of the records). A write into bytes the file already holds leaves its size
   * alone, so the fsync after it need not commit the file system's metadata as well: on ext4 a log fsync takes
   * ~0.25 ms instead of ~0.4 ms with three replicas sharing a disk (docs/benchmarks.md). Recovery reads zeros
   * after the last record as the end of the log.
   */
  readonly preallocateBytes?: number
  /**
   * What `open()` does when the log is damaged with valid records after the damage (in the same segment or
   * later ones: corruption, not a torn write from a crash), or the snapshot the manifest names is missing or damaged:
   * `'fail'` (default) throws STORAGE_CORRUPT naming the file and offset; `'truncate'` keeps the records
   * before the damage and sets the rest aside as `*.corrupt`; `'rejoin'` moves every data file into a
   * `damaged-<n>` folder and opens empty with `damaged` set, so the replica rejoins by state transfer
   * (and says so on every open until it has written a snapshot again).
   */
  readonly onCorruptLog?: CorruptLogPolicy
  /** File operations; defaults to the real file system. Tests inject one to count or fail operations. */
  readonly fs?: StorageFileSystem
}

/** Options with defaults applied. */
export interface ResolvedFileStorageOptions {
  readonly dir: string
  readonly sync: SyncPolicy
  readonly syncIntervalMs: number
  readonly segmentBytes: number
  readonly preallocateBytes: number
  readonly onCorruptLog: CorruptLogPolicy
}

/** Default segment size: 64 MiB. */
export const DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024
/** Default preallocation step: 1 MiB of zeros ahead of the records. */
export const DEFAULT_PREALLOCATE_BYTES = 1024 * 1024
/** Default fsync period of the 'interval' policy. */
export const DEFAULT_SYNC_INTERVAL_MS = 10
const MIN_SEGMENT_BYTES = 256
const MAX_SEGMENT_BYTES = 1024 * 1024 * 1024
const POLICIES: readonly SyncPolicy[] = ['batch', 'interval', 'never']

/** Validates options and applies defaults; throws INVALID_CONFIG naming the bad option. */
export function resolveFileStorageOptions(options: FileStorageOptions): ResolvedFileStorageOptions {
  const invalid = (path: string, message: string) => new LockstepError(ErrorCodes.INVALID_CONFIG, `fileStorage: ${message}`, { path })
  if (typeof options !== 'object' || options === null) throw invalid('/', 'options must be an object such as { dir: "./data/replica-1" }.')
  const { dir, sync = 'batch', syncIntervalMs, segmentBytes = DEFAULT_SEGMENT_BYTES, preallocateBytes = DEFAULT_PREALLOCATE_BYTES, onCorruptLog = 'fail' } = options
  if (typeof dir !== 'string' || dir.length === 0) throw invalid('/dir', `dir must be a non-empty path, got ${JSON.stringify(dir)}.`)
  if (!POLICIES.includes(sync)) throw invalid('/sync', `sync must be one of ${POLICIES.map((p) => `'${p}'`).join(', ')}, got ${JSON.stringify(sync)}.`)
  if (syncIntervalMs !== undefined) {
    if (sync !== 'interval') throw invalid('/syncIntervalMs', `syncIntervalMs only applies to sync: 'interval' (sync is '${sync}'); remove it or switch the policy.`)
    if (typeof syncIntervalMs !== 'number' || !Number.isFinite(syncIntervalMs) || syncIntervalMs <= 0) {
      throw invalid('/syncIntervalMs', `syncIntervalMs must be a positive number of milliseconds, got ${JSON.stringify(syncIntervalMs)}.`)
    }
  }
  if (!Number.isSafeInteger(segmentBytes) || segmentBytes < MIN_SEGMENT_BYTES || segmentBytes > MAX_SEGMENT_BYTES) {
    throw invalid('/segmentBytes', `segmentBytes must be an integer from ${MIN_SEGMENT_BYTES} to ${MAX_SEGMENT_BYTES}, got ${JSON.stringify(segmentBytes)}.`)
  }
  if (!Number.isSafeInteger(preallocateBytes) || preallocateBytes < 0 || preallocateBytes > MAX_SEGMENT_BYTES) {
    throw invalid('/preallocateBytes', `preallocateBytes must be an integer from 0 (write no zeros ahead) to ${MAX_SEGMENT_BYTES}, got ${JSON.stringify(preallocateBytes)}.`)
  }
  if (onCorruptLog !== 'fail' && onCorruptLog !== 'truncate' && onCorruptLog !== 'rejoin') {
    throw invalid('/onCorruptLog', `onCorruptLog must be 'fail', 'truncate' or 'rejoin', got ${JSON.stringify(onCorruptLog)}.`)
  }
  return { dir, sync, syncIntervalMs: syncIntervalMs ?? DEFAULT_SYNC_INTERVAL_MS, segmentBytes, preallocateBytes, onCorruptLog }
}
