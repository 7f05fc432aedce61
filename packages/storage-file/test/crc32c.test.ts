import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { crc32c } from '../src/crc32c'

/** Bit-at-a-time reference implementation, straight from the definition. */
function referenceCrc32c(bytes: Uint8Array): number {
  let crc = 0xffffffff
  for (const byte of bytes) {
    crc ^= byte
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1
  }
  return (crc ^ 0xffffffff) >>> 0
}

describe('crc32c', () => {
  it('matches the published check values (RFC 3720 appendix B.4 and the CRC catalogue)', () => {
    expect(crc32c(new TextEncoder().encode('123456789'))).toBe(0xe3069283)
    expect(crc32c(new Uint8Array(0))).toBe(0)
    expect(crc32c(new Uint8Array(32))).toBe(0x8a9136aa)
    expect(crc32c(new Uint8Array(32).fill(0xff))).toBe(0x62a8ab43)
    expect(crc32c(Uint8Array.from({ length: 32 }, (_, i) => i))).toBe(0x46dd794e)
    expect(crc32c(Uint8Array.from({ length: 32 }, (_, i) => 31 - i))).toBe(0x113fdb5c)
  })

  it('the slicing-by-8 loop agrees with the bitwise definition on any input and any range', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat(), fc.nat(), (bytes, a, b) => {
        const start = bytes.length === 0 ? 0 : a % bytes.length
        const end = start + (bytes.length - start === 0 ? 0 : b % (bytes.length - start + 1))
        expect(crc32c(bytes, start, end)).toBe(referenceCrc32c(bytes.subarray(start, end)))
      }),
      { seed: 3306, numRuns: 300 },
    )
  })

  it('continues a checksum across pieces', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), fc.uint8Array({ maxLength: 100 }), (left, right) => {
        const whole = new Uint8Array([...left, ...right])
        expect(crc32c(right, 0, right.length, crc32c(left))).toBe(crc32c(whole))
      }),
      { seed: 7, numRuns: 100 },
    )
  })
})
