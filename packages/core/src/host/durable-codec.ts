import { ErrorCodes, LockstepError } from '@lockstep/interface'
import type { EngineSnapshot, LazySnapshot, RecoveredEntry } from '../engine/engine-types'
import { PieceReader, imagePieces, readImage } from '../engine/image-codec'

/** One durable log entry: a delivered request, a view installed (with the configuration), or the replica's votes. */
export type LogEntry = RecoveredEntry

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/** Encodes a log entry as JSON bytes (commands are JSON by contract). */
export function encodeLogEntry(entry: LogEntry): Uint8Array {
  return encoder.encode(JSON.stringify(entry))
}

/** Decodes a log entry; a record that is not one is corruption the WAL's checksum did not catch. */
export function decodeLogEntry(bytes: Uint8Array): LogEntry {
  try {
    const entry = JSON.parse(decoder.decode(bytes)) as LogEntry
    if (typeof entry === 'object' && entry !== null && ('request' in entry || 'view' in entry || 'votes' in entry)) return entry
  } catch {
    // fall through
  }
  throw new LockstepError(ErrorCodes.STORAGE_CORRUPT, 'a log record is not a delivered request, a view or votes')
}

/** The first bytes of a snapshot in this format; earlier versions wrote JSON (with the machine in base64). */
const SNAPSHOT_MAGIC = encoder.encode('LSTPIMG1')

/**
 * An engine snapshot as bytes, a piece at a time: `LSTPIMG1`, then the state image (see `imagePieces`)
 * whose header also holds the view, the configuration and the votes. The machine's state is produced as
 * the pieces are iterated, a chunk at a time for a machine with `snapshotChunks`.
 */
export function* snapshotPieces(snapshot: LazySnapshot): Generator<Uint8Array, void, undefined> {
  yield SNAPSHOT_MAGIC
  yield* imagePieces(snapshot.image, snapshot.resume)
}

/** Decodes a snapshot of {@link snapshotPieces}, or of earlier versions (JSON). */
export function decodeSnapshot(bytes: Uint8Array): EngineSnapshot {
  if (startsWith(bytes, SNAPSHOT_MAGIC)) {
    const { image, header } = readImage(new PieceReader([bytes.subarray(SNAPSHOT_MAGIC.length)]), 'the snapshot')
    const { view, configuration, votes, commit } = header as Partial<EngineSnapshot>
    if (typeof view !== 'object' || view === null) throw new LockstepError(ErrorCodes.STORAGE_CORRUPT, 'the snapshot could not be decoded: its header has no view')
    return { view, ...(configuration ? { configuration } : {}), ...(votes ? { votes } : {}), ...(commit ? { commit } : {}), ...image }
  }
  try {
    const raw = JSON.parse(decoder.decode(bytes)) as Omit<EngineSnapshot, 'machine'> & { machine: string }
    return { ...raw, machine: new Uint8Array(Buffer.from(raw.machine, 'base64')) }
  } catch (cause) {
    throw new LockstepError(ErrorCodes.STORAGE_CORRUPT, `the snapshot could not be decoded: ${(cause as Error).message}`)
  }
}

function startsWith(bytes: Uint8Array, prefix: Uint8Array): boolean {
  if (bytes.length < prefix.length) return false
  for (let i = 0; i < prefix.length; i++) if (bytes[i] !== prefix[i]) return false
  return true
}
