/**
 * The snapshot manifest, file `MANIFEST` (format version 1, little-endian, 32 bytes): which snapshot
 * recovery must find, so a snapshot that was deleted or damaged is detected instead of silently
 * replaced by an older one (or by none).
 *
 *     0..7    magic  "LSTPMAN1"
 *     8..15   u64    position of the current snapshot (its file is `snapshot-<position>.snap`)
 *     16..23  u64    size of that snapshot file in bytes
 *     24..27  u32    CRC32C of the whole snapshot file
 *     28..31  u32    CRC32C of bytes 0..27
 *
 * It is written to `MANIFEST.tmp`, fsynced and renamed over `MANIFEST` after each snapshot file is
 * durable, and before older snapshots are deleted: at every instant it names a snapshot on disk.
 */

import { crc32c } from './crc32c'
import { readUint64, writeUint64 } from './wal-format'

/** The manifest's file name. */
export const MANIFEST_NAME = 'MANIFEST'
const MANIFEST_MAGIC = new TextEncoder().encode('LSTPMAN1')
const MANIFEST_BYTES = 32

/** What the manifest says about the current snapshot. */
export interface SnapshotManifest {
  readonly position: number
  readonly sizeBytes: number
  readonly checksum: number
}

/** The manifest of a snapshot whose file holds `fileBytes`. */
export function manifestOf(position: number, fileBytes: Uint8Array): SnapshotManifest {
  return { position, sizeBytes: fileBytes.length, checksum: crc32c(fileBytes) }
}

/** The manifest file's bytes. */
export function encodeManifest(manifest: SnapshotManifest): Uint8Array {
  const bytes = new Uint8Array(MANIFEST_BYTES)
  const view = new DataView(bytes.buffer)
  bytes.set(MANIFEST_MAGIC, 0)
  writeUint64(view, 8, manifest.position)
  writeUint64(view, 16, manifest.sizeBytes)
  view.setUint32(24, manifest.checksum, true)
  view.setUint32(28, crc32c(bytes, 0, 28), true)
  return bytes
}

/** Decodes a manifest file; a string says why it is invalid. Never throws. */
export function decodeManifest(bytes: Uint8Array): SnapshotManifest | string {
  if (bytes.length !== MANIFEST_BYTES) return `${bytes.length} bytes, not ${MANIFEST_BYTES}`
  for (let i = 0; i < MANIFEST_MAGIC.length; i++) if (bytes[i] !== MANIFEST_MAGIC[i]) return 'bad magic (not a Lockstep manifest)'
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (crc32c(bytes, 0, 28) !== view.getUint32(28, true)) return 'checksum mismatch'
  const position = readUint64(view, 8)
  const sizeBytes = readUint64(view, 16)
  if (position === undefined || sizeBytes === undefined) return 'position or size out of range'
  return { position, sizeBytes, checksum: view.getUint32(24, true) }
}

/** Why the bytes of the snapshot file the manifest names do not match it, or undefined when they do. */
export function manifestMismatch(manifest: SnapshotManifest, fileBytes: Uint8Array): string | undefined {
  if (fileBytes.length !== manifest.sizeBytes) return `${fileBytes.length} bytes where the manifest records ${manifest.sizeBytes}`
  if (crc32c(fileBytes) !== manifest.checksum) return 'its checksum does not match the manifest'
  return undefined
}
