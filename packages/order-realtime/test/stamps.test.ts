import { describe, expect, it } from 'vitest'
import { StampSource, compareStamps } from '../src/index'
import { cluster, req } from './harness'

const stampsSent = (c: ReturnType<typeof cluster>, link: string) =>
  c.links.get(link)!.flatMap((m) => ((m.message as { r?: [number, string, number, unknown][] }).r ?? []).map(([stamp, origin, n]) => [stamp, origin, n]))

describe('stamps', () => {
  it('a request is stamped with the receiving replica\'s clock reading in microseconds, strictly increasing when the clock did not advance', () => {
    const c = cluster(['r1', 'r2'])
    c.get('r1').submit(req('a', 1))
    c.get('r1').submit(req('a', 2))
    c.get('r1').submit(req('a', 3))
    c.advance(7.5)
    c.get('r1').submit(req('a', 4))
    c.get('r1').flush()
    expect(stampsSent(c, 'r1>r2')).toEqual([
      [1_000_000, 'r1', 1],
      [1_000_001, 'r1', 2],
      [1_000_002, 'r1', 3],
      [1_007_500, 'r1', 4],
    ])
  })

  it('stamps stay above the floor a replica advertised, even when its clock reads less', () => {
    const stamps = new StampSource()
    expect(stamps.advance(5)).toBe(5_000)
    expect(stamps.next(4)).toBe(5_001)
    expect(stamps.next(6)).toBe(6_000)
  })

  it('ties on time are broken by replica id', () => {
    expect(compareStamps(5, 'r1', 5, 'r2')).toBeLessThan(0)
    expect(compareStamps(5, 'r2', 5, 'r1')).toBeGreaterThan(0)
    expect(compareStamps(4, 'r9', 5, 'r1')).toBeLessThan(0)
    const c = cluster(['r1', 'r2'])
    c.get('r2').submit(req('b', 1)) // stamp (1_000_000, r2)
    c.get('r1').submit(req('a', 1)) // stamp (1_000_000, r1)
    c.settle()
    expect(c.keys('r1')).toEqual(['a#1', 'b#1'])
    expect(c.keys('r2')).toEqual(['a#1', 'b#1'])
  })
})

describe('options', () => {
  const bad: [string, object][] = [
    ['maxDelayMs', { maxDelayMs: 0 }],
    ['maxDelayMs', { maxDelayMs: Number.NaN }],
    ['maxSkewMs', { maxSkewMs: -1 }],
    ['deltaMs', { maxDelayMs: 10, maxSkewMs: 2, deltaMs: 21 }],
    ['heartbeatMs', { heartbeatMs: 0 }],
    ['maxBatch', { maxBatch: 1.5 }],
  ]
  for (const [option, options] of bad) {
    it(`rejects ${JSON.stringify(options)} with INVALID_CONFIG naming ${option}`, () => {
      expect(() => cluster(['r1'], options)).toThrow(expect.objectContaining({ code: 'INVALID_CONFIG', message: expect.stringContaining(option) as string }))
    })
  }

  it('Δ defaults to two hops plus skew', () => {
    expect(cluster(['r1'], { maxDelayMs: 10, maxSkewMs: 3 }).get('r1').delta).toBe(23)
    expect(cluster(['r1'], { maxDelayMs: 10, maxSkewMs: 3, deltaMs: 50 }).get('r1').delta).toBe(50)
  })
})
