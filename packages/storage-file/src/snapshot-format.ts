/**
 * On-disk format of a snapshot file `snapshot-<position, 16 decimal digits>.snap`
 * (format version 1, little-endian):
 *
 *     0..7          magic  "LSTPSNP1"
 *     8..15         u64    position: the snapshot covers every record up to here
 *     16..23        u64    length of data in bytes
 *     24..24+len    data
 *     last 4 bytes  u32    CRC32C of every byte before it
 *
 * The file must be exactly 28 + length bytes long. A snapshot is written to
 * `<name>.tmp`, fsynced, renamed into place, and the directory is fsynced.
 */

import type { Snapshot } from '@lockstep/interface'
import { crc32c } from './crc32c'
import { readUint64, writeUint64 } from './wal-format'

const SNAPSHOT_MAGIC = new TextEncoder().encode('LSTPSNP1')
const SNAPSHOT_HEADER_BYTES = 24
const SNAPSHOT_TRAILER_BYTES = 4

/** File name of the snapshot at `position`. */
export function snapshotFileName(position: number): string {
  return `snapshot-${String(position).padStart(16, '0')}.snap`
}

/** The position in a snapshot file name, or undefined for other names. */
export function parseSnapshotFileName(name: string): number | undefined {
  const match = /^snapshot-(\d{16})\.snap$/.exec(name)
  return match === null ? undefined : Number(match[1])
}

/** The bytes of a snapshot file. */
export function encodeSnapshot(snapshot: Snapshot): Uint8Array {
  const length = snapshot.data.length
  const bytes = new Uint8Array(SNAPSHOT_HEADER_BYTES + length + SNAPSHOT_TRAILER_BYTES)
  const view = new DataView(bytes.buffer)
  bytes.set(SNAPSHOT_MAGIC, 0)
  writeUint64(view, 8, snapshot.position)
  writeUint64(view, 16, length)
  bytes.set(snapshot.data, SNAPSHOT_HEADER_BYTES)
  view.setUint32(SNAPSHOT_HEADER_BYTES + length, crc32c(bytes, 0, SNAPSHOT_HEADER_BYTES + length), true)
  return bytes
}

/** Decodes a snapshot file; a string says why it is invalid. Never throws. */
export function decodeSnapshot(bytes: Uint8Array): Snapshot | string {
  if (bytes.length < SNAPSHOT_HEADER_BYTES + SNAPSHOT_TRAILER_BYTES) return `only ${bytes.length} bytes, shorter than a snapshot header`
  for (let i = 0; i < SNAPSHOT_MAGIC.length; i++) if (bytes[i] !== SNAPSHOT_MAGIC[i]) return 'bad magic (not a Lockstep snapshot file)'
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const position = readUint64(view, 8)
  const length = readUint64(view, 16)
  if (position === undefined || length === undefined) return 'position or length out of range'
  const expectedBytes = SNAPSHOT_HEADER_BYTES + length + SNAPSHOT_TRAILER_BYTES
  if (bytes.length !== expectedBytes) return `${bytes.length} bytes where the header announces ${expectedBytes}`
  if (crc32c(bytes, 0, SNAPSHOT_HEADER_BYTES + length) !== view.getUint32(SNAPSHOT_HEADER_BYTES + length, true)) return 'checksum mismatch'
  return { position, data: new Uint8Array(bytes.buffer, bytes.byteOffset + SNAPSHOT_HEADER_BYTES, length) }
}
