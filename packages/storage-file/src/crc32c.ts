/**
 * CRC32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of iSCSI,
 * ext4 metadata and LevelDB. Implemented here because Node 20 ships no CRC32C.
 * Slicing-by-8: eight 256-entry tables let the main loop consume 8 bytes per step.
 */

const POLYNOMIAL = 0x82f63b78

const TABLES: Uint32Array = (() => {
  const tables = new Uint32Array(8 * 256)
  for (let byte = 0; byte < 256; byte++) {
    let crc = byte
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ POLYNOMIAL : crc >>> 1
    tables[byte] = crc >>> 0
  }
  for (let byte = 0; byte < 256; byte++) {
    for (let table = 1; table < 8; table++) {
      const previous = tables[(table - 1) * 256 + byte]!
      tables[table * 256 + byte] = (previous >>> 8) ^ tables[previous & 0xff]!
    }
  }
  return tables
})()

/**
 * CRC32C of `bytes[start, end)`. Pass the result of an earlier call as `previous`
 * to continue a checksum over several pieces.
 */
export function crc32c(bytes: Uint8Array, start = 0, end = bytes.length, previous = 0): number {
  const t = TABLES
  let crc = ~previous
  let i = start
  while (end - i >= 8) {
    const low = crc ^ (bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24))
    const high = bytes[i + 4]! | (bytes[i + 5]! << 8) | (bytes[i + 6]! << 16) | (bytes[i + 7]! << 24)
    crc =
      t[1792 + (low & 0xff)]! ^
      t[1536 + ((low >>> 8) & 0xff)]! ^
      t[1280 + ((low >>> 16) & 0xff)]! ^
      t[1024 + (low >>> 24)]! ^
      t[768 + (high & 0xff)]! ^
      t[512 + ((high >>> 8) & 0xff)]! ^
      t[256 + ((high >>> 16) & 0xff)]! ^
      t[high >>> 24]!
    i += 8
  }
  while (i < end) crc = t[(crc ^ bytes[i++]!) & 0xff]! ^ (crc >>> 8)
  return ~crc >>> 0
}
