import { ErrorCodes, LockstepError, type Request, type View } from '@lockstep/interface'
import type { EngineSnapshot } from '../engine/engine-types'

/** One durable log entry: a delivered request, or a view installed. */
export type LogEntry = { readonly request: Request } | { readonly view: View }

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
    if (typeof entry === 'object' && entry !== null && ('request' in entry || 'view' in entry)) return entry
  } catch {
    // fall through
  }
  throw new LockstepError(ErrorCodes.STORAGE_CORRUPT, 'a log record is not a delivered request or a view')
}

/** Encodes an engine snapshot: JSON with the machine bytes in base64. */
export function encodeSnapshot(snapshot: EngineSnapshot): Uint8Array {
  return encoder.encode(JSON.stringify({ ...snapshot, machine: Buffer.from(snapshot.machine).toString('base64') }))
}

/** Decodes a snapshot written by {@link encodeSnapshot}. */
export function decodeSnapshot(bytes: Uint8Array): EngineSnapshot {
  try {
    const raw = JSON.parse(decoder.decode(bytes)) as Omit<EngineSnapshot, 'machine'> & { machine: string }
    return { ...raw, machine: new Uint8Array(Buffer.from(raw.machine, 'base64')) }
  } catch (cause) {
    throw new LockstepError(ErrorCodes.STORAGE_CORRUPT, `the snapshot could not be decoded: ${(cause as Error).message}`)
  }
}
