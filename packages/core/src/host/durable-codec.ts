import { ErrorCodes, LockstepError, type Request } from '@lockstep/interface'
import { Packr, Unpackr, type Options } from 'msgpackr'
import type { EngineSnapshot, LazySnapshot, RecoveredEntry } from '../engine/engine-types'
import { PieceReader, imagePieces, readImage } from '../engine/image-codec'
import type { RecentOrder } from '../engine/state-transfer'

/** One durable log entry: a delivered request, a view installed (with the configuration), or the replica's votes. */
export type LogEntry = RecoveredEntry

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/**
 * The first byte of a log record in the binary format: 0xC1, a byte msgpack never uses, then the entry as
 * msgpack. Records of earlier versions are JSON, so they start with `{`.
 */
export const BINARY_RECORD_TAG = 0xc1
const JSON_RECORD_START = 0x7b // `{`

// Plain maps, no shared structures: every record decodes on its own. Fields holding `undefined` are left
// out, as JSON.stringify leaves them out, so an entry replayed from the disk is the entry that was delivered.
// (`skipValues` is in msgpackr's README, not in its types.)
const packr = new Packr({ useRecords: false, moreTypes: false, skipValues: [undefined] } as Options)
// copyBuffers: a binary value in a command never aliases (or pins) the buffer the log was read into.
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number', copyBuffers: true })

/**
 * Encodes a log entry: {@link BINARY_RECORD_TAG}, then msgpack (no JSON on the path every delivery takes).
 * Commands are JSON values by contract, and they come back from a record as they went in.
 */
export function encodeLogEntry(entry: LogEntry): Uint8Array {
  const body = packr.pack(entry)
  const record = new Uint8Array(body.length + 1)
  record[0] = BINARY_RECORD_TAG
  record.set(body, 1)
  return record
}

/**
 * Decodes a log entry, binary or (written by an earlier version) JSON; a record that is neither, or does not
 * hold a delivered request, a view or votes, is corruption the WAL's checksum did not catch.
 */
export function decodeLogEntry(bytes: Uint8Array): LogEntry {
  try {
    const entry: unknown = bytes[0] === BINARY_RECORD_TAG ? unpackr.unpack(bytes.subarray(1)) : bytes[0] === JSON_RECORD_START ? JSON.parse(decoder.decode(bytes)) : undefined
    if (typeof entry === 'object' && entry !== null && ('request' in entry || 'view' in entry || 'votes' in entry)) return entry as LogEntry
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
  const { recent, ...resume } = snapshot.resume
  yield* imagePieces(snapshot.image, recent ? { ...resume, recent: encodeRecent(recent) } : resume)
}

/**
 * The requests kept for catch-ups, in a snapshot's (JSON) header: `requests` as msgpack in base64, as the log
 * records them (so they come back as they went in), `from` and `digests` as they are.
 */
interface EncodedRecent {
  readonly from: { readonly position: number; readonly digest: string }
  readonly digests: readonly string[]
  readonly requests: string
}

function encodeRecent(recent: RecentOrder): EncodedRecent {
  return { from: recent.from, digests: recent.digests, requests: Buffer.from(packr.pack(recent.requests)).toString('base64') }
}

function decodeRecent(value: unknown): RecentOrder {
  const fail = (what: string): never => {
    throw new LockstepError(ErrorCodes.STORAGE_CORRUPT, `the snapshot could not be decoded: its header's recent order ${what}`)
  }
  if (typeof value !== 'object' || value === null) return fail('is not an object')
  const { from, digests, requests } = value as Partial<EncodedRecent>
  if (typeof from !== 'object' || from === null || !Number.isSafeInteger(from.position) || typeof from.digest !== 'string') return fail('has no valid `from`')
  if (!Array.isArray(digests) || !digests.every((d) => typeof d === 'string')) return fail('has no valid `digests`')
  if (typeof requests !== 'string') return fail('has no `requests`')
  let decoded: unknown
  try {
    decoded = unpackr.unpack(Buffer.from(requests, 'base64'))
  } catch (cause) {
    return fail(`holds requests that do not decode: ${(cause as Error).message}`)
  }
  if (!Array.isArray(decoded) || decoded.length !== digests.length) return fail(`holds ${Array.isArray(decoded) ? decoded.length : 'no'} requests for ${digests.length} digests`)
  return { from: { position: from.position, digest: from.digest }, digests, requests: decoded as Request[] }
}

/** Decodes a snapshot of {@link snapshotPieces}, or of earlier versions (JSON). */
export function decodeSnapshot(bytes: Uint8Array): EngineSnapshot {
  if (startsWith(bytes, SNAPSHOT_MAGIC)) {
    const { image, header } = readImage(new PieceReader([bytes.subarray(SNAPSHOT_MAGIC.length)]), 'the snapshot')
    const { view, configuration, votes, commit } = header as Partial<EngineSnapshot>
    if (typeof view !== 'object' || view === null) throw new LockstepError(ErrorCodes.STORAGE_CORRUPT, 'the snapshot could not be decoded: its header has no view')
    const recent = header.recent === undefined ? undefined : decodeRecent(header.recent)
    return { view, ...(configuration ? { configuration } : {}), ...(votes ? { votes } : {}), ...(commit ? { commit } : {}), ...(recent ? { recent } : {}), ...image }
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
