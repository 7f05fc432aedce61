import { describe, expect, it } from 'vitest'
import { planLogRecovery, type FoundSegment } from '../src/recovery-plan'
import { encodeFrame, encodeSegmentHeader, parseSegment, segmentFileName } from '../src/wal-format'
import { record } from './helpers'

function segment(seq: number, prevPosition: number, positions: number[], cutBytes = 0): FoundSegment {
  const parts = [encodeSegmentHeader(prevPosition), ...positions.map((p) => encodeFrame(record(p, 4)))]
  const whole = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  parts.reduce((offset, part) => (whole.set(part, offset), offset + part.length), 0)
  const bytes = whole.subarray(0, whole.length - cutBytes)
  return { seq, name: segmentFileName(seq), sizeBytes: bytes.length, parsed: parseSegment(bytes) }
}

describe('planLogRecovery', () => {
  it('starts at the newest segment at or below the snapshot and removes the covered ones, damaged or not', () => {
    const segments = [segment(1, 0, [1, 2, 3], 5), segment(2, 3, [4, 5]), segment(3, 5, [6, 7])]
    const plan = planLogRecovery(segments, 4, 'fail', '/d')
    expect(plan.remove).toEqual([segmentFileName(1)])
    expect(plan.records.map((r) => r.position)).toEqual([5, 6, 7])
    expect(plan.chain.map((s) => s.seq)).toEqual([2, 3])
    expect(plan.damage).toBeUndefined()
    const later = planLogRecovery(segments, 5, 'fail', '/d')
    expect(later.remove).toEqual([segmentFileName(1), segmentFileName(2)])
    expect(later.records.map((r) => r.position)).toEqual([6, 7])
  })

  it('a torn segment followed only by empty segments is a tail: truncate it, remove the empties', () => {
    const plan = planLogRecovery([segment(1, 0, [1, 2], 3), segment(2, 2, [])], 0, 'fail', '/d')
    expect(plan.records.map((r) => r.position)).toEqual([1])
    expect(plan.truncate).toEqual({ name: segmentFileName(1), lengthBytes: 20 + 20 })
    expect(plan.remove).toEqual([segmentFileName(2)])
  })

  it('a last segment with a header cut short is removed as never created', () => {
    const plan = planLogRecovery([segment(1, 0, [1]), { ...segment(2, 1, []), sizeBytes: 7, parsed: parseSegment(encodeSegmentHeader(1).subarray(0, 7)) }], 0, 'fail', '/d')
    expect(plan.remove).toEqual([segmentFileName(2)])
    expect(plan.chain.map((s) => s.seq)).toEqual([1])
    expect(plan.truncate).toBeUndefined()
  })

  it('records between the snapshot and the log are missing: STORAGE_CORRUPT', () => {
    expect(() => planLogRecovery([segment(4, 10, [11])], 7, 'fail', '/d')).toThrow(expect.objectContaining({ code: 'STORAGE_CORRUPT' }))
    expect(() => planLogRecovery([segment(4, 10, [11])], 0, 'truncate', '/d')).toThrow(/no valid snapshot/)
  })

  it('no segments: nothing to return, nothing to fix', () => {
    expect(planLogRecovery([], 9, 'fail', '/d')).toEqual({ records: [], chain: [], remove: [], truncate: undefined, quarantine: [], damage: undefined })
  })
})
