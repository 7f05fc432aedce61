import { describe, expect, it } from 'vitest'
import { newIncarnation } from '../src/index'

/** A seeded source of randomness for the test (a linear congruential generator). */
function seeded(seed: number) {
  let state = seed
  return { next: () => (state = (Math.imul(state, 1103515245) + 12345) >>> 0) / 2 ** 32 }
}

describe('newIncarnation', () => {
  it('tells apart runs that start at the same clock reading (a clock held still or set back)', () => {
    const random = seeded(1)
    const start = Date.UTC(2026, 11, 1, 10, 0, 0) + 0.375
    const runs = Array.from({ length: 40 }, () => newIncarnation(start, random))
    // 40 draws among 2047 nonces: a repeat has odds of about 1 in 3 over 40, so the seed is fixed; what counts is
    // that the nonce is drawn, not that it never repeats.
    expect(new Set(runs).size).toBeGreaterThan(35)
    for (const incarnation of runs) {
      expect(Math.floor(incarnation)).toBe(Math.floor(start))
      expect(incarnation).toBeGreaterThan(Math.floor(start))
      expect(incarnation).toBeLessThan(Math.floor(start) + 1)
    }
  })

  it('grows from one run to the next when the clock moves forward by a millisecond or more', () => {
    const random = seeded(2)
    let start = Date.UTC(2026, 11, 1)
    let last = newIncarnation(start, random)
    for (let i = 0; i < 1000; i++) {
      start += 1 + (i % 7)
      const next = newIncarnation(start, random)
      expect(next).toBeGreaterThan(last)
      last = next
    }
  })

  it('keeps the start time and the nonce exactly in one number (until the year 2109)', () => {
    const start = Date.UTC(2109, 0, 1)
    const top = newIncarnation(start, { next: () => 0.99999999 })
    const bottom = newIncarnation(start, { next: () => 0 })
    expect(top - start).toBe(2047 / 2048)
    expect(bottom - start).toBe(1 / 2048)
  })

  it('refuses a start time that is not a number of milliseconds', () => {
    expect(() => newIncarnation(Number.NaN, seeded(3))).toThrow(/finite number of milliseconds \(got NaN\)/)
  })
})
