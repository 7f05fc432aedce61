import { join } from 'node:path'
import { ErrorCodes, LockstepError, isLockstepError, type LogRecord, type Logger, type ReadableAroundDamage, type Snapshot, type StorageDamage } from '@lockstep/interface'
import type { StorageFileSystem } from './file-system'
import { planLogRecovery, type ChainSegment, type CorruptLogPolicy, type FoundSegment, type ReadableLog } from './recovery-plan'
import { decodeSnapshot, parseSnapshotFileName, snapshotFileName } from './snapshot-format'
import { decodeManifest, MANIFEST_NAME, manifestMismatch, type SnapshotManifest } from './snapshot-manifest'
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
  /** Set when the contents were given up for damage (policy 'rejoin'): every data file was moved aside. */
  readonly damaged: StorageDamage | undefined
}

/** The marker of a directory whose contents were set aside for damage: the replica must rejoin, never start afresh. */
export const DAMAGED_MARKER_NAME = 'DAMAGED'
/** Data files: segments, snapshots, the manifest, and files set aside earlier. */
const DATA_FILE = /^(wal-\d{16}\.log|snapshot-\d{16}\.snap|MANIFEST)(\.corrupt(-\d+)?)?$/
/** Temporary files of atomic writes (snapshot, manifest, marker) that a crash interrupted before the rename. */
const TEMPORARY_NAME = /^(snapshot-\d{16}\.snap|MANIFEST|DAMAGED)\.tmp$/


/**
 * Reads a storage directory after a restart and repairs it: removes unfinished
 * snapshot writes, picks the newest valid snapshot (setting invalid ones aside
 * as `*.corrupt`), and applies {@link planLogRecovery} to the log: deletes
 * covered or empty segments, truncates a torn tail, sets aside segments after
 * damage (policy 'truncate'). Throws STORAGE_CORRUPT when the log cannot be
 * recovered without losing records silently.
 */
export async function recoverDirectory(fs: StorageFileSystem, dir: string, policy: CorruptLogPolicy, logger: Logger): Promise<RecoveredDirectory> {
  // The temporary file of an interrupted atomic write was never renamed into place, so it never counted.
  let cleaned = false
  for (const name of (await fs.readdir(dir)).filter((n) => TEMPORARY_NAME.test(n))) {
    logger.warn('storage-file: removing an unfinished write left by a crash', { dir, file: name })
    await fs.unlink(join(dir, name))
    cleaned = true
  }
  if (cleaned) await fs.syncDirectory(dir)
  const names = await fs.readdir(dir)
  if (names.includes(DAMAGED_MARKER_NAME)) return reportEarlierDamage(fs, dir, policy, logger, names)
  try {
    return await recoverContents(fs, dir, policy, logger, names)
  } catch (error) {
    if (policy !== 'rejoin' || !isLockstepError(error) || error.code !== ErrorCodes.STORAGE_CORRUPT) throw error
    const details = (error.details ?? {}) as { file?: unknown; path?: unknown; offset?: unknown }
    const file = typeof details.file === 'string' ? details.file : join(dir, typeof details.path === 'string' ? details.path : '')
    const offset = typeof details.offset === 'number' ? details.offset : undefined
    const setAsideIn = await setAside(fs, dir, { file, offset, message: error.message })
    const readable = (error.details as { readable?: ReadableAroundDamage } | undefined)?.readable
    const damaged: StorageDamage = readable ? { file, offset, message: error.message, setAsideIn, readable } : { file, offset, message: error.message, setAsideIn }
    logger.error(`storage-file: the data in ${dir} is damaged (${file}${offset === undefined ? '' : ` at byte ${offset}`}); it is not served. Every data file was moved to ${setAsideIn} for inspection, and the replica must rejoin by state transfer from its peers`, { ...damaged })
    return emptyDirectory(damaged)
  }
}

function emptyDirectory(damaged: StorageDamage): RecoveredDirectory {
  return { snapshot: undefined, records: [], chain: [], snapshotFiles: new Map(), nextSeq: 1, repairs: { segmentsDeleted: 0, logFsyncs: 0, directoryFsyncs: 2 }, damaged }
}

/**
 * Moves every data file of `dir` into a new `damaged-<n>` folder, after writing the DAMAGED marker that makes
 * every later open report the damage again (until a snapshot is written): a crash in between can never leave
 * an empty directory that would count as a fresh replica. Returns the folder.
 */
async function setAside(fs: StorageFileSystem, dir: string, damage: Omit<StorageDamage, 'setAsideIn'>): Promise<string> {
  const names = await fs.readdir(dir)
  let n = 1
  while (names.includes(`damaged-${n}`)) n++
  const setAsideIn = join(dir, `damaged-${n}`)
  // The files moved, so a later open can read them again (and only them) for what is readable around the damage.
  const files = names.filter((name) => DATA_FILE.test(name))
  await writeAtomically(fs, dir, DAMAGED_MARKER_NAME, new TextEncoder().encode(`${JSON.stringify({ ...damage, setAsideIn, files }, null, 2)}\n`))
  await moveDataFiles(fs, dir, setAsideIn, names)
  return setAsideIn
}

async function moveDataFiles(fs: StorageFileSystem, dir: string, into: string, names: readonly string[]): Promise<void> {
  await fs.mkdir(into)
  const there = new Set(await fs.readdir(into))
  for (const name of names.filter((n) => DATA_FILE.test(n))) {
    let target = name
    for (let k = 1; there.has(target); k++) target = `${name}-${k}`
    there.add(target)
    await fs.rename(join(dir, name), join(into, target))
  }
  await fs.syncDirectory(into)
  await fs.syncDirectory(dir)
}

/** Writes `name` in `dir` atomically: a temporary file, fsynced, renamed into place, the directory fsynced. */
export async function writeAtomically(fs: StorageFileSystem, dir: string, name: string, bytes: Uint8Array): Promise<void> {
  const path = join(dir, name)
  const handle = await fs.open(`${path}.tmp`, 'w')
  try {
    await handle.write(bytes, 0)
    await handle.sync()
  } finally {
    await handle.close()
  }
  await fs.rename(`${path}.tmp`, path)
  await fs.syncDirectory(dir)
}

/** A directory set aside earlier: with 'rejoin' it stays empty and says so again; otherwise STORAGE_CORRUPT. */
async function reportEarlierDamage(fs: StorageFileSystem, dir: string, policy: CorruptLogPolicy, logger: Logger, names: readonly string[]): Promise<RecoveredDirectory> {
  let recorded: Partial<StorageDamage> & { files?: unknown } = {}
  try {
    recorded = JSON.parse(new TextDecoder().decode(await fs.readFile(join(dir, DAMAGED_MARKER_NAME)))) as Partial<StorageDamage> & { files?: unknown }
  } catch {
    // An unreadable marker still says the directory's contents were given up.
  }
  const file = typeof recorded.file === 'string' ? recorded.file : join(dir, DAMAGED_MARKER_NAME)
  const offset = typeof recorded.offset === 'number' ? recorded.offset : undefined
  const setAsideIn = typeof recorded.setAsideIn === 'string' ? recorded.setAsideIn : dir
  const message =
    `The data in ${dir} was set aside after damage (${file}${offset === undefined ? '' : ` at byte ${offset}`}; see ${setAsideIn}) and the replica has not rejoined since: ` +
    `it holds no state and must rejoin by state transfer from its peers (the ${DAMAGED_MARKER_NAME} file goes once it has).`
  if (policy !== 'rejoin') throw new LockstepError(ErrorCodes.STORAGE_CORRUPT, message, { path: DAMAGED_MARKER_NAME, file, offset })
  // Data files written since (or left by a crash while setting aside) belong to no state this replica may serve.
  const leftovers = names.filter((n) => DATA_FILE.test(n))
  if (leftovers.length > 0) await moveDataFiles(fs, dir, setAsideIn, names)
  const files = Array.isArray(recorded.files) && recorded.files.every((f) => typeof f === 'string') ? (recorded.files as string[]) : undefined
  const readable = files ? await readSetAside(fs, setAsideIn, files) : undefined
  const damaged: StorageDamage = { file, offset, message: typeof recorded.message === 'string' ? recorded.message : message, setAsideIn, ...(readable ? { readable } : {}) }
  logger.error(`storage-file: ${message}`, { dir, file, offset, setAsideIn })
  return emptyDirectory(damaged)
}

/**
 * Reads the files set aside for damage again, without changing them, for what is readable around the damage
 * (see `StorageDamage.readable`): only `files`, the ones moved there when the damage was found. Undefined when
 * that cannot be told (the snapshot is missing or invalid, the files are gone).
 */
async function readSetAside(fs: StorageFileSystem, setAsideIn: string, files: readonly string[]): Promise<ReadableAroundDamage | undefined> {
  let snapshot: Snapshot | undefined
  const found: FoundSegment[] = []
  try {
    const manifestBytes = files.includes(MANIFEST_NAME) ? await fs.readFile(join(setAsideIn, MANIFEST_NAME)) : undefined
    const manifest = manifestBytes === undefined ? undefined : decodeManifest(manifestBytes)
    if (typeof manifest === 'string') return undefined
    const snapshots = files.map((name) => ({ name, position: parseSnapshotFileName(name) })).filter((f): f is { name: string; position: number } => f.position !== undefined)
    for (const { name, position } of snapshots.sort((a, b) => b.position - a.position)) {
      if (manifest !== undefined && position < manifest.position) break
      const bytes = await fs.readFile(join(setAsideIn, name))
      const decoded = decodeSnapshot(bytes)
      if (typeof decoded === 'string' || decoded.position !== position) continue
      if (manifest !== undefined && position === manifest.position && manifestMismatch(manifest, bytes) !== undefined) return undefined
      snapshot = decoded
      break
    }
    // The snapshot the manifest names is the one the log needs: without it, what the disk held cannot be told.
    if (manifest !== undefined && manifest.position > 0 && (snapshot?.position ?? 0) < manifest.position) return undefined
    for (const name of files) {
      const seq = parseSegmentFileName(name)
      if (seq === undefined) continue
      const bytes = await fs.readFile(join(setAsideIn, name))
      found.push({ seq, name, sizeBytes: bytes.length, parsed: parseSegment(bytes), bytes })
    }
  } catch {
    return undefined
  }
  found.sort((a, b) => a.seq - b.seq)
  try {
    planLogRecovery(found, snapshot?.position ?? 0, 'rejoin', setAsideIn)
    return undefined
  } catch (error) {
    const readable = isLockstepError(error) ? (error.details as { readable?: ReadableLog } | undefined)?.readable : undefined
    return readable ? { snapshot, records: readable.records, holes: readable.holes } : undefined
  }
}

async function recoverContents(fs: StorageFileSystem, dir: string, policy: CorruptLogPolicy, logger: Logger, names: readonly string[]): Promise<RecoveredDirectory> {
  const taken = new Set(names)
  const repairs = { segmentsDeleted: 0, logFsyncs: 0, directoryFsyncs: 0 }
  let repaired = false
  const manifest = await readManifest(fs, dir, names)

  // The newest valid snapshot wins; an invalid one is set aside and the next older one is tried. With a manifest,
  // none older than the snapshot it names may be used: that one must be there, intact (a newer one is a
  // snapshot whose manifest update a crash interrupted).
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
    if (manifest !== undefined && position <= manifest.position) break
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
  if (snapshot === undefined && manifest !== undefined && manifest.position > 0) {
    const name = snapshotFileName(manifest.position)
    const bytes = names.includes(name) ? await fs.readFile(join(dir, name)) : undefined
    const decoded = bytes === undefined ? 'missing' : decodeSnapshot(bytes)
    const problem =
      bytes === undefined ? 'it is missing' : (manifestMismatch(manifest, bytes) ?? (typeof decoded === 'string' ? decoded : decoded.position !== manifest.position ? `it holds position ${decoded.position}` : undefined))
    if (problem !== undefined || typeof decoded === 'string') {
      throw new LockstepError(
        ErrorCodes.STORAGE_CORRUPT,
        `Cannot recover ${dir}: the manifest names the snapshot ${name} (position ${manifest.position}), but ${problem ?? 'it is invalid'}. ` +
          'The state it held is not in the log any more, so the replica cannot come back from this disk. Move the directory aside and let the replica rejoin through state transfer from its peers.',
        { path: name, file: join(dir, name), offset: 0, position: manifest.position },
      )
    }
    snapshot = decoded
    snapshotFiles.set(manifest.position, name)
    for (const older of snapshotNames) if (older.position < manifest.position) snapshotFiles.set(older.position, older.name)
  }

  const found: FoundSegment[] = []
  let nextSeq = 1
  for (const name of names) {
    const seq = parseSegmentFileName(name)
    if (seq === undefined) continue
    const bytes = await fs.readFile(join(dir, name))
    found.push({ seq, name, sizeBytes: bytes.length, parsed: parseSegment(bytes), bytes })
    nextSeq = Math.max(nextSeq, seq + 1)
  }
  found.sort((a, b) => a.seq - b.seq)
  const plan = withSnapshot(() => planLogRecovery(found, snapshot?.position ?? 0, policy, dir), snapshot)

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
  if (plan.preserve !== undefined) {
    const copy = `${plan.preserve}.corrupt`
    let target = copy
    for (let n = 1; taken.has(target); n++) target = `${copy}-${n}`
    taken.add(target)
    await writeAtomically(fs, dir, target, found.find((s) => s.name === plan.preserve)!.bytes!)
    logger.error('storage-file: valid records follow damage in a log segment; kept a copy of it before truncating it', { dir, file: plan.preserve, copiedTo: target })
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
  return { snapshot, records: plan.records, chain: plan.chain, snapshotFiles, nextSeq, repairs, damaged: undefined }
}

/** Runs `plan`; damage it reports with what is readable around it gets the snapshot added to that. */
function withSnapshot<T>(plan: () => T, snapshot: Snapshot | undefined): T {
  try {
    return plan()
  } catch (error) {
    const details = isLockstepError(error) ? (error.details as { readable?: ReadableLog } | undefined) : undefined
    if (!details?.readable) throw error
    const readable: ReadableAroundDamage = { snapshot, records: details.readable.records, holes: details.readable.holes }
    throw new LockstepError(ErrorCodes.STORAGE_CORRUPT, (error as Error).message, { ...details, readable }, { cause: error })
  }
}

/** The manifest, if the directory has one (older versions wrote none); a damaged one is STORAGE_CORRUPT. */
async function readManifest(fs: StorageFileSystem, dir: string, names: readonly string[]): Promise<SnapshotManifest | undefined> {
  if (!names.includes(MANIFEST_NAME)) return undefined
  const decoded = decodeManifest(await fs.readFile(join(dir, MANIFEST_NAME)))
  if (typeof decoded !== 'string') return decoded
  throw new LockstepError(
    ErrorCodes.STORAGE_CORRUPT,
    `Cannot recover ${dir}: its snapshot manifest ${MANIFEST_NAME} is damaged (${decoded}), so which snapshot the state needs is unknown. Move the directory aside and let the replica rejoin through state transfer from its peers.`,
    { path: MANIFEST_NAME, file: join(dir, MANIFEST_NAME), offset: 0 },
  )
}

/** Renames a damaged file to `<name>.corrupt` (or `.corrupt-N` if taken), keeping it for inspection. */
async function quarantine(fs: StorageFileSystem, dir: string, name: string, taken: Set<string>): Promise<string> {
  let target = `${name}.corrupt`
  for (let n = 1; taken.has(target); n++) target = `${name}.corrupt-${n}`
  taken.add(target)
  await fs.rename(join(dir, name), join(dir, target))
  return target
}
