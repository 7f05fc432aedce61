import { join } from 'node:path'
import { ErrorCodes, LockstepError, type LogRecord } from '@lockstep/interface'
import { framePosition, readPastDamage, SEGMENT_HEADER_BYTES, type ParsedSegment } from './wal-format'

/**
 * What to do when the log is damaged somewhere a torn tail cannot explain (or the snapshot the manifest
 * names is missing or damaged): `'fail'` throws STORAGE_CORRUPT; `'truncate'` keeps what precedes the damage;
 * `'rejoin'` sets every data file aside and opens empty, marked as damaged, so the replica rejoins by state transfer.
 */
export type CorruptLogPolicy = 'fail' | 'truncate' | 'rejoin'

/** A segment file as found on disk. */
export interface FoundSegment {
  readonly seq: number
  readonly name: string
  readonly sizeBytes: number
  readonly parsed: ParsedSegment
  /** The file's bytes (to keep a copy of a damaged segment before it is truncated). */
  readonly bytes?: Uint8Array
}

/** A segment of the recovered log chain. */
export interface ChainSegment {
  readonly seq: number
  readonly name: string
  readonly prevPosition: number
  /** Position of its last record; `prevPosition` when it holds none. */
  lastPosition: number
  recordCount: number
  /** Where its records end: the next one is written here. */
  sizeBytes: number
  /** The file's size: past `sizeBytes` it holds zeros written ahead of the records (preallocation). */
  fileBytes: number
}

/** Where the log ended before the end of the files, and why. */
export interface LogDamage {
  readonly name: string
  readonly offset: number
  readonly reason: string
}

/** The outcome of recovery: what to return and which files to fix. */
export interface RecoveryPlan {
  /** Records above the snapshot position, in order. */
  readonly records: LogRecord[]
  /** The log chain that stays, oldest first; the last one is appended to. */
  readonly chain: ChainSegment[]
  /** Segment files to delete: covered by the snapshot, or empty ones after the end of the log. */
  readonly remove: string[]
  /** Cut this segment at `lengthBytes` (the end of its last valid record). */
  readonly truncate: { readonly name: string; readonly lengthBytes: number } | undefined
  /** Segments holding data after the damage, set aside (only with the 'truncate' policy). */
  readonly quarantine: string[]
  /** A segment to copy aside (as `*.corrupt`) before it is truncated: valid records follow its damage ('truncate' policy). */
  readonly preserve: string | undefined
  /** Where the log ended early, if it did. */
  readonly damage: LogDamage | undefined
}

/** Whether a segment holds anything past its header but zeros (zeros are written ahead of records: preallocation). */
const hasRecordBytes = (segment: FoundSegment) => segment.parsed.dataEnd > SEGMENT_HEADER_BYTES

/**
 * Decides what survives in the log, given the segment files (in sequence order)
 * and the position of the snapshot recovery starts from (`base`, 0 for none).
 *
 * - The chain starts at the newest segment whose `prevPosition` is at most
 *   `base`; older segments are covered by the snapshot and removed.
 * - Each later segment must start exactly where the one before ends.
 * - The log ends at the first damage (a record cut short, a bad checksum, a
 *   position out of order, a bad header, a break in the chain). Nothing after
 *   it is returned. If no later segment holds record bytes, the damage is a
 *   torn tail: the segment is truncated there and empty segments after it are
 *   removed, unless a valid frame follows the damage in its own segment. Otherwise
 *   acknowledged data may sit after the damage: with policy 'fail' or 'rejoin' that
 *   is STORAGE_CORRUPT; with 'truncate' those segments are quarantined (and the
 *   damaged one copied aside before it is truncated).
 */
export function planLogRecovery(found: readonly FoundSegment[], base: number, policy: CorruptLogPolicy, dir: string): RecoveryPlan {
  const segments = [...found]
  const remove: string[] = []
  // A segment whose creation was interrupted: header missing or cut short, nothing after it.
  while (segments.length > 0) {
    const last = segments.at(-1)!
    if (last.parsed.prevPosition !== undefined || hasRecordBytes(last)) break
    remove.push(last.name)
    segments.pop()
  }
  if (segments.length === 0) return { records: [], chain: [], remove, truncate: undefined, quarantine: [], preserve: undefined, damage: undefined }

  let start = -1
  for (let i = segments.length - 1; i >= 0; i--) {
    const prevPosition = segments[i]!.parsed.prevPosition
    if (prevPosition !== undefined && prevPosition <= base) {
      start = i
      break
    }
  }
  if (start < 0) throw missingRecords(segments, base, dir)
  for (const covered of segments.slice(0, start)) remove.push(covered.name)

  const records: LogRecord[] = []
  const chain: ChainSegment[] = []
  let damage: (LogDamage & { index: number; cutBytes: number | undefined; validFrameAt: number | undefined }) | undefined
  let lastPosition = segments[start]!.parsed.prevPosition!
  for (let i = start; i < segments.length; i++) {
    const { name, seq, parsed, sizeBytes } = segments[i]!
    if (parsed.prevPosition === undefined) {
      damage = { index: i, name, offset: 0, reason: 'invalid or missing segment header', cutBytes: undefined, validFrameAt: undefined }
      break
    }
    if (parsed.prevPosition !== lastPosition) {
      damage = {
        index: i,
        name,
        offset: 0,
        reason: `segment starts after position ${parsed.prevPosition} but the log before it ends at ${lastPosition}`,
        cutBytes: undefined,
        validFrameAt: undefined,
      }
      break
    }
    for (const record of parsed.records) if (record.position > base) records.push(record)
    lastPosition = parsed.records.at(-1)?.position ?? lastPosition
    chain.push({ seq, name, prevPosition: parsed.prevPosition, lastPosition, recordCount: parsed.records.length, sizeBytes: parsed.validBytes, fileBytes: sizeBytes })
    if (parsed.damage !== undefined) {
      damage = {
        index: i,
        name,
        offset: parsed.damage.offset,
        reason: describeDamage(parsed.damage.reason),
        cutBytes: parsed.validBytes,
        validFrameAt: parsed.damage.validFrameAt,
      }
      break
    }
  }
  if (damage === undefined) return { records, chain, remove, truncate: undefined, quarantine: [], preserve: undefined, damage: undefined }

  // Segments wholly after the damage; a segment dropped whole (bad header, chain break) counts as after it.
  const after = segments.slice(damage.cutBytes === undefined ? damage.index : damage.index + 1)
  const withData = after.filter(hasRecordBytes)
  if ((withData.length > 0 || damage.validFrameAt !== undefined) && policy !== 'truncate') {
    const followers = [
      ...(damage.validFrameAt === undefined ? [] : [`a valid record at byte ${damage.validFrameAt} of ${damage.name}`]),
      ...(withData.length === 0 ? [] : [`later segments that hold records (${withData.map((s) => s.name).join(', ')})`]),
    ]
    const damagedSegment = segments[damage.index]!
    const laterRecord = withData.find((s) => s.parsed.records.length > 0)?.parsed.records[0]?.position
    const nextValidPosition =
      damage.validFrameAt !== undefined && damagedSegment.bytes !== undefined ? framePosition(damagedSegment.bytes, damage.validFrameAt) : laterRecord
    throw new LockstepError(
      ErrorCodes.STORAGE_CORRUPT,
      `The write-ahead log in ${dir} is damaged in ${damage.name} at byte ${damage.offset} (${damage.reason}), after the record at log position ${lastPosition}, and valid data follows the damage: ${followers.join(' and ')}` +
        `${nextValidPosition === undefined ? '' : ` (from log position ${nextValidPosition})`}. ` +
        'This is corruption, not a torn tail from a crash, so records the replica acknowledged may be lost. Move the directory aside and let the replica rejoin through state transfer from its peers ' +
        "(onCorruptLog: 'rejoin' does that), or open it with onCorruptLog: 'truncate' to keep the records before the damage and set the rest aside.",
      {
        path: damage.name,
        file: join(dir, damage.name),
        offset: damage.offset,
        reason: damage.reason,
        validRecordAt: damage.validFrameAt,
        lastIntactPosition: lastPosition,
        nextValidPosition,
        laterSegments: withData.map((s) => s.name),
        ...(policy === 'rejoin' ? { readable: readAround(records, segments, damage, lastPosition) } : {}),
      },
    )
  }
  const quarantine = withData.map((s) => s.name)
  for (const empty of after) if (!hasRecordBytes(empty)) remove.push(empty.name)
  const truncate = damage.cutBytes === undefined ? undefined : { name: damage.name, lengthBytes: damage.cutBytes }
  if (truncate !== undefined) chain.at(-1)!.fileBytes = truncate.lengthBytes
  const preserve = damage.validFrameAt === undefined ? undefined : damage.name
  return { records, chain, remove, truncate, quarantine, preserve, damage: { name: damage.name, offset: damage.offset, reason: damage.reason } }
}

/** What can still be read of a log damaged in the middle (see `StorageDamage.readable`). */
export interface ReadableLog {
  /** The valid records, before and after the damage, in order. */
  readonly records: LogRecord[]
  /** The damaged stretches, between the positions of the records around them. */
  readonly holes: { after: number; before: number }[]
}

/**
 * The records before the damage and every valid record after it (in the damaged segment past the damage, and
 * in the later segments), with each damaged stretch as a hole. Undefined when the damaged segment's bytes are
 * not at hand.
 */
function readAround(
  before: readonly LogRecord[],
  segments: readonly FoundSegment[],
  damage: { readonly index: number; readonly cutBytes: number | undefined },
  lastPosition: number,
): ReadableLog | undefined {
  const out = { records: [...before], holes: [] as { after: number; before: number }[] }
  let last = lastPosition
  for (let i = damage.index; i < segments.length; i++) {
    const segment = segments[i]!
    if (segment.bytes === undefined) return undefined
    // The damaged segment from just past its damage; a later one from its first record if it goes on where the
    // log before it ended, else (a bad header, a break in the chain) from wherever a valid record is found.
    if (i === damage.index && damage.cutBytes !== undefined) last = readPastDamage(segment.bytes, damage.cutBytes + 1, last, out)
    else if (i > damage.index && segment.parsed.prevPosition === last) {
      out.records.push(...segment.parsed.records)
      last = segment.parsed.records.at(-1)?.position ?? last
      if (segment.parsed.damage !== undefined) last = readPastDamage(segment.bytes, segment.parsed.damage.offset + 1, last, out)
    } else last = readPastDamage(segment.bytes, 0, last, out)
  }
  return out
}

function describeDamage(reason: NonNullable<ParsedSegment['damage']>['reason']): string {
  switch (reason) {
    case 'header':
      return 'invalid or missing segment header'
    case 'truncated':
      return 'record cut short'
    case 'checksum':
      return 'record checksum mismatch'
    case 'position':
      return 'record position not above the one before'
  }
}

function missingRecords(segments: readonly FoundSegment[], base: number, dir: string): LockstepError {
  const first = segments.find((s) => s.parsed.prevPosition !== undefined)
  const covered = base === 0 ? 'there is no valid snapshot' : `the newest valid snapshot is at position ${base}`
  const what =
    first === undefined
      ? `no segment of the write-ahead log in ${dir} has a valid header`
      : `the write-ahead log in ${dir} starts after position ${first.parsed.prevPosition} (${first.name}) but ${covered}, so the records in between are missing`
  return new LockstepError(
    ErrorCodes.STORAGE_CORRUPT,
    `Cannot recover: ${what}. (A newer snapshot may have been damaged after the log it covered was compacted.) Move the directory aside and let the replica rejoin through state transfer from its peers.`,
    { path: first?.name ?? dir, base },
  )
}
