import { ErrorCodes, LockstepError, type LogRecord, type Snapshot } from '@lockstep/interface'

/**
 * Checks a batch of records about to be appended after position `floor` (the
 * last appended position, or the snapshot position if higher) and returns the
 * new floor. Throws before anything is appended, so a bad batch appends nothing.
 */
export function checkAppendedRecords(records: readonly LogRecord[], floor: number, where: string): number {
  let last = floor
  for (const [index, record] of records.entries()) {
    const { position, data } = record
    if (!Number.isSafeInteger(position) || position < 1) {
      throw new LockstepError(ErrorCodes.INTERNAL, `${where}: record ${index} has position ${String(position)}; positions are safe integers from 1. This is a bug in the caller.`, { path: `/${index}/position` })
    }
    if (position <= last) {
      throw new LockstepError(
        ErrorCodes.INTERNAL,
        `${where}: record ${index} has position ${position}, not above ${last} (the last appended record or the snapshot); positions must strictly increase. This is a bug in the caller.`,
        { path: `/${index}/position` },
      )
    }
    if (!(data instanceof Uint8Array)) {
      throw new LockstepError(ErrorCodes.INTERNAL, `${where}: record ${index} (position ${position}) has data that is not a Uint8Array. Encode the record before appending it.`, { path: `/${index}/data` })
    }
    if (data.length > 0xffffffff) {
      throw new LockstepError(ErrorCodes.INTERNAL, `${where}: record ${index} (position ${position}) is ${data.length} bytes; a record holds at most 4 GiB - 1.`, { path: `/${index}/data` })
    }
    last = position
  }
  return last
}

/** Checks a snapshot about to be written after one at `previous` (undefined: none). */
export function checkSnapshot(snapshot: Snapshot, previous: number | undefined, where: string): void {
  const { position, data } = snapshot
  if (!Number.isSafeInteger(position) || position < 0) {
    throw new LockstepError(ErrorCodes.INTERNAL, `${where}: snapshot position ${String(position)} is not a safe integer >= 0. This is a bug in the caller.`, { path: '/position' })
  }
  if (previous !== undefined && position < previous) {
    throw new LockstepError(ErrorCodes.INTERNAL, `${where}: snapshot position ${position} is below the current snapshot's ${previous}; snapshots only move forward. This is a bug in the caller.`, { path: '/position' })
  }
  if (!(data instanceof Uint8Array)) {
    throw new LockstepError(ErrorCodes.INTERNAL, `${where}: snapshot data is not a Uint8Array. Encode the state before writing it.`, { path: '/data' })
  }
}
