import { join } from 'node:path'
import type { LogRecord, Logger, Snapshot } from '@lockstep/interface'
import type { StorageFileSystem } from './file-system'
import { planLogRecovery, type ChainSegment, type CorruptLogPolicy, type FoundSegment } from './recovery-plan'
import { decodeSnapshot, parseSnapshotFileName } from './snapshot-format'
import { parseSegment, parseSegmentFileName } from './wal-format'

/** What {@link recoverDirectory} found and left on disk. */
export interface RecoveredDirectory {
  readonly snapshot: Snapshot | undefined
  /** Records above the snapshot, in order. */
  readonly records: LogRecord[]
  /** The log chain that stays, oldest first (empty if the directory holds no usable segment). */
  readonly chain: ChainSegment[]
  /** Snapshot files left on disk by position (the chosen one and older ones). */
  readonly snapshotFiles: Map<number, string>
  /** One above the highest segment number seen. */
  readonly nextSeq: number
  /** What the repairs cost, for the stats. */
  readonly repairs: { readonly segmentsDeleted: number; readonly logFsyncs: number; readonly directoryFsyncs: number }
}

/** A leftover of a snapshot write that a crash interrupted before the rename. */
const SNAPSHOT_TEMPORARY_NAME = /^snapshot-\d{16}\.snap\.tmp$/

/**
 * Reads a storage directory after a restart and repairs it: removes unfinished
 * snapshot writes, picks the newest valid snapshot (setting invalid ones aside
 * as `*.corrupt`), and applies {@link planLogRecovery} to the log: deletes
 * covered or empty segments, truncates a torn tail, sets aside segments after
 * damage (policy 'truncate'). Throws STORAGE_CORRUPT when the log cannot be
 * recovered without losing records silently.
 */
export async function recoverDirectory(fs: StorageFileSystem, dir: string, policy: CorruptLogPolicy, logger: Logger): Promise<RecoveredDirectory> {
  const names = await fs.readdir(dir)
  const taken = new Set(names)
  const repairs = { segmentsDeleted: 0, logFsyncs: 0, directoryFsyncs: 0 }
  let repaired = false

  // The temporary file of an interrupted snapshot write was never renamed into place, so it never counted.
  for (const name of names.filter((n) => SNAPSHOT_TEMPORARY_NAME.test(n))) {
    logger.warn('storage-file: removing an unfinished snapshot left by a crash', { dir, file: name })
    await fs.unlink(join(dir, name))
    repaired = true
  }

  // The newest valid snapshot wins; an invalid one is set aside and the next older one is tried.
  let snapshot: Snapshot | undefined
  const snapshotFiles = new Map<number, string>()
  const snapshotNames = names
    .map((name) => ({ name, position: parseSnapshotFileName(name) }))
    .filter((s): s is { name: string; position: number } => s.position !== undefined)
    .sort((a, b) => b.position - a.position)
  for (const { name, position } of snapshotNames) {
    if (snapshot !== undefined) {
      snapshotFiles.set(position, name)
      continue
    }
    const decoded = decodeSnapshot(await fs.readFile(join(dir, name)))
    const problem = typeof decoded === 'string' ? decoded : decoded.position !== position ? `holds position ${decoded.position}, not ${position}` : undefined
    if (typeof decoded === 'string' || problem !== undefined) {
      const movedTo = await quarantine(fs, dir, name, taken)
      logger.error('storage-file: ignoring an invalid snapshot', { dir, file: name, problem, movedTo })
      repaired = true
      continue
    }
    snapshot = decoded
    snapshotFiles.set(position, name)
  }

  const found: FoundSegment[] = []
  let nextSeq = 1
  for (const name of names) {
    const seq = parseSegmentFileName(name)
    if (seq === undefined) continue
    const bytes = await fs.readFile(join(dir, name))
    found.push({ seq, name, sizeBytes: bytes.length, parsed: parseSegment(bytes) })
    nextSeq = Math.max(nextSeq, seq + 1)
  }
  found.sort((a, b) => a.seq - b.seq)
  const plan = planLogRecovery(found, snapshot?.position ?? 0, policy, dir)

  for (const name of plan.remove) {
    await fs.unlink(join(dir, name))
    repairs.segmentsDeleted++
    repaired = true
  }
  if (plan.damage !== undefined) {
    const sizeBytes = found.find((s) => s.name === plan.damage!.name)?.sizeBytes ?? 0
    logger.warn('storage-file: the log ends early; the bytes after its last complete record are dropped', {
      dir,
      ...plan.damage,
      droppedBytes: sizeBytes - (plan.truncate?.lengthBytes ?? 0),
    })
  }
  if (plan.truncate !== undefined) {
    const handle = await fs.open(join(dir, plan.truncate.name), 'r+')
    try {
      await handle.truncate(plan.truncate.lengthBytes)
      await handle.sync()
      repairs.logFsyncs++
    } finally {
      await handle.close()
    }
    repaired = true
  }
  for (const name of plan.quarantine) {
    const movedTo = await quarantine(fs, dir, name, taken)
    logger.error('storage-file: set aside a log segment that follows damage', { dir, file: name, movedTo })
    repaired = true
  }
  if (repaired) {
    await fs.syncDirectory(dir)
    repairs.directoryFsyncs++
  }
  return { snapshot, records: plan.records, chain: plan.chain, snapshotFiles, nextSeq, repairs }
}

/** Renames a damaged file to `<name>.corrupt` (or `.corrupt-N` if taken), keeping it for inspection. */
async function quarantine(fs: StorageFileSystem, dir: string, name: string, taken: Set<string>): Promise<string> {
  let target = `${name}.corrupt`
  for (let n = 1; taken.has(target); n++) target = `${name}.corrupt-${n}`
  taken.add(target)
  await fs.rename(join(dir, name), join(dir, target))
  return target
}
