import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { decodeSnapshot, encodeSnapshot } from '../src/snapshot-format'
import { encodeFrame, encodeSegmentHeader, FRAME_HEADER_BYTES, parseSegment, readUint64, SEGMENT_HEADER_BYTES, writeUint64 } from '../src/wal-format'
import { plain } from './helpers'

const increasingPositions = (maxLength: number) =>
  fc.array(fc.record({ gap: fc.integer({ min: 1, max: 1000 }), data: fc.uint8Array({ maxLength: 64 }) }), { maxLength }).map((items) => {
    let position = 0
    return items.map(({ gap, data }) => ({ position: (position += gap), data }))
  })

function segmentBytes(prevPosition: number, records: readonly { position: number; data: Uint8Array }[]): Uint8Array {
  const parts = [encodeSegmentHeader(prevPosition), ...records.map(encodeFrame)]
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let offset = 0
  for (const part of parts) {
    out.set(part, offset)
    offset += part.length
  }
  return out
}

describe('the write-ahead log format', () => {
  it('lays a frame out as crc32c, length, position, data (little-endian)', () => {
    const frame = encodeFrame({ position: 0x0102030405, data: new Uint8Array([0xaa, 0xbb]) })
    expect(frame.length).toBe(FRAME_HEADER_BYTES + 2)
    expect([...frame.subarray(4, 16)]).toEqual([2, 0, 0, 0, 0x05, 0x04, 0x03, 0x02, 0x01, 0, 0, 0])
    expect([...frame.subarray(16)]).toEqual([0xaa, 0xbb])
    expect(new TextDecoder().decode(encodeSegmentHeader(0).subarray(0, 8))).toBe('LSTPWAL1')
  })

  it('u64 fields round-trip every safe integer and reject larger ones', () => {
    fc.assert(
      fc.property(fc.maxSafeNat(), (value) => {
        const view = new DataView(new ArrayBuffer(8))
        writeUint64(view, 0, value)
        expect(readUint64(view, 0)).toBe(value)
      }),
      { seed: 11, numRuns: 200 },
    )
    const view = new DataView(new ArrayBuffer(8))
    view.setUint32(4, 0x200000, true)
    expect(readUint64(view, 0)).toBeUndefined()
  })

  it('parses back exactly the records it encoded', () => {
    fc.assert(
      fc.property(fc.nat({ max: 1000 }), increasingPositions(20), (prevPosition, records) => {
        const shifted = records.map((r) => ({ position: r.position + prevPosition, data: r.data }))
        const parsed = parseSegment(segmentBytes(prevPosition, shifted))
        expect(parsed.prevPosition).toBe(prevPosition)
        expect(parsed.damage).toBeUndefined()
        expect(plain(parsed.records)).toEqual(plain(shifted))
      }),
      { seed: 42, numRuns: 200 },
    )
  })

  it('stops at a record whose position does not increase, even with a valid checksum', () => {
    const bytes = segmentBytes(0, [
      { position: 1, data: new Uint8Array([1]) },
      { position: 5, data: new Uint8Array([2]) },
      { position: 5, data: new Uint8Array([3]) },
      { position: 6, data: new Uint8Array([4]) },
    ])
    const parsed = parseSegment(bytes)
    expect(parsed.records.map((r) => r.position)).toEqual([1, 5])
    // The record at position 6 after it is valid: the damage is not a torn tail.
    expect(parsed.damage).toEqual({ offset: SEGMENT_HEADER_BYTES + 2 * (FRAME_HEADER_BYTES + 1), reason: 'position', validFrameAt: SEGMENT_HEADER_BYTES + 3 * (FRAME_HEADER_BYTES + 1) })
    expect(parseSegment(segmentBytes(7, [{ position: 7, data: new Uint8Array() }])).damage?.reason).toBe('position')
  })

  it('reports a missing or damaged segment header', () => {
    const bytes = segmentBytes(3, [])
    expect(parseSegment(bytes.subarray(0, 19)).damage).toEqual({ offset: 0, reason: 'header' })
    const damaged = bytes.slice()
    damaged[9]! ^= 1
    expect(parseSegment(damaged).prevPosition).toBeUndefined()
  })

  it('snapshots round-trip and any single damaged byte or cut is rejected', () => {
    const encoded = encodeSnapshot({ position: 77, data: new TextEncoder().encode('state of the machine') })
    const decoded = decodeSnapshot(encoded)
    expect(typeof decoded).toBe('object')
    expect(decoded).toMatchObject({ position: 77 })
    for (let offset = 0; offset < encoded.length; offset++) {
      const damaged = encoded.slice()
      damaged[offset]! ^= 0x40
      expect(typeof decodeSnapshot(damaged)).toBe('string')
      expect(typeof decodeSnapshot(encoded.subarray(0, offset))).toBe('string')
    }
  })
})
