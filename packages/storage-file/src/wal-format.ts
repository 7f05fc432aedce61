/**
 * On-disk format of the write-ahead log (format version 1). All integers are
 * little-endian; u64 values must be safe integers (at most 2^53 - 1).
 *
 * A segment file `wal-<seq, 16 decimal digits>.log` is a header and frames:
 *
 *   segment header, 20 bytes
 *     0..7    magic  "LSTPWAL1" (ASCII; the final "1" is the format version)
 *     8..15   u64    prevPosition: position of the last record written before
 *                    this segment (or the snapshot it starts after); 0 = none
 *     16..19  u32    CRC32C of bytes 0..15
 *
 *   record frame, 16 + length bytes
 *     0..3    u32    CRC32C of bytes 4..(16 + length): length, position and data
 *     4..7    u32    length of data in bytes
 *     8..15   u64    position (>= 1, strictly above the previous record's
 *                    position, or above prevPosition for the first frame)
 *     16..    data
 *
 * Reading stops at the first frame that is cut short, fails its checksum or
 * breaks the position order: that frame and everything after it are not records.
 * A valid frame found after that point (by trying every byte offset) shows the
 * damage is not a torn tail but corruption in the middle of the log.
 *
 * A segment may end in zeros: the writer fills the file with zeros ahead of its
 * records (preallocation), so that an fsync after a write need not also commit a
 * new file size. Zeros from the end of the last valid frame to the end of the
 * file are the end of the log, not damage (no frame is all zeros: its position
 * is at least 1). Any other byte there is damage, as above.
 */

import type { LogRecord } from '@lockstep/interface'
import { crc32c } from './crc32c'

/** Bytes of the segment header. */
export const SEGMENT_HEADER_BYTES = 20
/** Bytes of a record frame before its data. */
export const FRAME_HEADER_BYTES = 16
/** Segment magic, "LSTPWAL1". */
const SEGMENT_MAGIC = new TextEncoder().encode('LSTPWAL1')
const TWO_TO_32 = 2 ** 32
/** Largest high word of a u64 that still reads as a safe integer. */
const MAX_SAFE_HIGH_WORD = 0x1fffff

/** Writes a safe non-negative integer as a little-endian u64. */
export function writeUint64(view: DataView, offset: number, value: number): void {
  view.setUint32(offset, value % TWO_TO_32, true)
  view.setUint32(offset + 4, Math.floor(value / TWO_TO_32), true)
}

/** Reads a little-endian u64; undefined when it exceeds Number.MAX_SAFE_INTEGER. */
export function readUint64(view: DataView, offset: number): number | undefined {
  const high = view.getUint32(offset + 4, true)
  if (high > MAX_SAFE_HIGH_WORD) return undefined
  return high * TWO_TO_32 + view.getUint32(offset, true)
}

/** File name of segment number `seq`. */
export function segmentFileName(seq: number): string {
  return `wal-${String(seq).padStart(16, '0')}.log`
}

/** The segment number in a segment file name, or undefined for other names. */
export function parseSegmentFileName(name: string): number | undefined {
  const match = /^wal-(\d{16})\.log$/.exec(name)
  return match === null ? undefined : Number(match[1])
}

/** The 20-byte header of a segment whose records follow `prevPosition`. */
export function encodeSegmentHeader(prevPosition: number): Uint8Array {
  const bytes = new Uint8Array(SEGMENT_HEADER_BYTES)
  const view = new DataView(bytes.buffer)
  bytes.set(SEGMENT_MAGIC, 0)
  writeUint64(view, 8, prevPosition)
  view.setUint32(16, crc32c(bytes, 0, 16), true)
  return bytes
}

/** One record frame (header and data) ready to be written. */
export function encodeFrame(record: LogRecord): Uint8Array {
  const length = record.data.length
  const frame = new Uint8Array(FRAME_HEADER_BYTES + length)
  const view = new DataView(frame.buffer)
  view.setUint32(4, length, true)
  writeUint64(view, 8, record.position)
  frame.set(record.data, FRAME_HEADER_BYTES)
  view.setUint32(0, crc32c(frame, 4), true)
  return frame
}

/** Why reading a segment stopped before its end. */
export type DamageReason = 'header' | 'truncated' | 'checksum' | 'position'

/** What a segment file holds. */
export interface ParsedSegment {
  /** From the header; undefined when the header is missing, cut short or invalid. */
  readonly prevPosition: number | undefined
  /** The complete, valid records before the first damage, in order. */
  readonly records: LogRecord[]
  /** Bytes from the start of the file up to the end of the last valid record (or header). */
  readonly validBytes: number
  /**
   * Bytes from the start of the file up to its last byte that is not zero: the file holds only zeros (a
   * preallocated tail) from here on. At most `validBytes` when the segment ends cleanly.
   */
  readonly dataEnd: number
  /**
   * Set when the file holds bytes beyond `validBytes`: where and why reading stopped, and `validFrameAt`, the
   * offset of the first valid frame found after the damage (complete, checksum matching, position above the
   * last valid record's), if any. A valid frame after the damage means the damage is not a torn tail.
   */
  readonly damage: { readonly offset: number; readonly reason: DamageReason; readonly validFrameAt: number | undefined } | undefined
}

/** The position of the frame at `offset` (a valid one, as {@link findValidFrame} found). */
export function framePosition(bytes: Uint8Array, offset: number): number | undefined {
  return readUint64(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), offset + 8)
}

/**
 * Reads a segment file's bytes: the valid records up to the first frame that is
 * cut short, fails its checksum or does not increase the position. Never throws.
 */
export function parseSegment(bytes: Uint8Array): ParsedSegment {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const dataEnd = endOfData(bytes)
  const prevPosition = readSegmentHeader(bytes, view)
  if (prevPosition === undefined) {
    return { prevPosition: undefined, records: [], validBytes: 0, dataEnd, damage: { offset: 0, reason: 'header', validFrameAt: undefined } }
  }
  const read = readFrames(bytes, SEGMENT_HEADER_BYTES, prevPosition)
  // Only zeros after the last valid frame: the preallocated rest of the segment, where the log ends.
  if (read.damage === undefined || dataEnd <= read.validBytes) return { prevPosition, records: read.records, validBytes: read.validBytes, dataEnd, damage: undefined }
  const validFrameAt = findValidFrame(bytes, view, read.validBytes + 1, read.lastPosition)
  return { prevPosition, records: read.records, validBytes: read.validBytes, dataEnd, damage: { reason: read.damage, offset: read.validBytes, validFrameAt } }
}

/** One past the last byte of `bytes` that is not zero (0 when every byte is). */
export function endOfData(bytes: Uint8Array): number {
  let end = bytes.length
  while (end > 0 && bytes[end - 1] === 0) end--
  return end
}

/** The frames read from `offset` on (see {@link readFrames}). */
export interface ReadFrames {
  readonly records: LogRecord[]
  /** The end of the last valid frame (or `offset`). */
  readonly validBytes: number
  /** The position of the last valid record (or the `after` it was given). */
  readonly lastPosition: number
  /** Why reading stopped before the end of the bytes, if it did. */
  readonly damage: DamageReason | undefined
}

/** Reads consecutive valid frames from `offset`, each above the one before (the first above `after`). Never throws. */
export function readFrames(bytes: Uint8Array, offset: number, after: number): ReadFrames {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const records: LogRecord[] = []
  let lastPosition = after
  const stop = (damage: DamageReason | undefined): ReadFrames => ({ records, validBytes: offset, lastPosition, damage })
  while (offset < bytes.length) {
    if (bytes.length - offset < FRAME_HEADER_BYTES) return stop('truncated')
    const length = view.getUint32(offset + 4, true)
    const end = offset + FRAME_HEADER_BYTES + length
    if (end > bytes.length) return stop('truncated')
    if (crc32c(bytes, offset + 4, end) !== view.getUint32(offset, true)) return stop('checksum')
    const position = readUint64(view, offset + 8)
    if (position === undefined || position <= lastPosition) return stop('position')
    records.push({ position, data: new Uint8Array(bytes.buffer, bytes.byteOffset + offset + FRAME_HEADER_BYTES, length) })
    lastPosition = position
    offset = end
  }
  return stop(undefined)
}

/**
 * Reads what is still valid in `bytes` from `offset` on, where damage is known to start: every valid frame
 * found (by trying every byte offset, then reading on frame by frame), and each damaged stretch as a hole
 * between the last record before it (`after`) and the first valid one after it (`before`). Returns the
 * position of the last record read (or `after`).
 */
export function readPastDamage(bytes: Uint8Array, offset: number, after: number, out: { records: LogRecord[]; holes: { after: number; before: number }[] }): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  let last = after
  for (let at = findValidFrame(bytes, view, offset, last); at !== undefined; ) {
    out.holes.push({ after: last, before: framePosition(bytes, at)! })
    const read = readFrames(bytes, at, last)
    out.records.push(...read.records)
    last = read.lastPosition
    if (read.damage === undefined) break
    at = findValidFrame(bytes, view, read.validBytes + 1, last)
  }
  return last
}

/**
 * The offset of the first valid frame at or after `from` whose position is above `above`, or undefined.
 * Tries every byte offset (the damaged frame's length field may be wrong, so frame boundaries are unknown);
 * the cheap checks (the frame fits, the position is a safe integer above `above`) come before the checksum.
 */
export function findValidFrame(bytes: Uint8Array, view: DataView, from: number, above: number): number | undefined {
  for (let offset = from; offset + FRAME_HEADER_BYTES <= bytes.length; offset++) {
    const end = offset + FRAME_HEADER_BYTES + view.getUint32(offset + 4, true)
    if (end > bytes.length) continue
    const position = readUint64(view, offset + 8)
    if (position === undefined || position <= above) continue
    if (crc32c(bytes, offset + 4, end) === view.getUint32(offset, true)) return offset
  }
  return undefined
}

function readSegmentHeader(bytes: Uint8Array, view: DataView): number | undefined {
  if (bytes.length < SEGMENT_HEADER_BYTES) return undefined
  for (let i = 0; i < SEGMENT_MAGIC.length; i++) if (bytes[i] !== SEGMENT_MAGIC[i]) return undefined
  if (crc32c(bytes, 0, 16) !== view.getUint32(16, true)) return undefined
  return readUint64(view, 8)
}
