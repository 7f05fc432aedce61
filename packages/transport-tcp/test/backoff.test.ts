import { describe, expect, it } from 'vitest'
import { Backoff } from '../src/backoff'
import { DEFAULT_RECONNECT } from '../src/options'

const settings = { initialDelayMs: 100, maxDelayMs: 1000, multiplier: 2, jitter: 0.5 }

describe('reconnect backoff', () => {
  it('grows exponentially up to the cap, without jitter when the random source returns 0', () => {
    const backoff = new Backoff(settings, { next: () => 0 })
    expect(Array.from({ length: 6 }, () => backoff.nextDelayMs())).toEqual([100, 200, 400, 800, 1000, 1000])
  })

  it('takes off up to the jitter fraction, drawn from the injected random source', () => {
    const draws = [0.999, 0.5, 0]
    const backoff = new Backoff(settings, { next: () => draws.shift()! })
    const [first, second, third] = [backoff.nextDelayMs(), backoff.nextDelayMs(), backoff.nextDelayMs()]
    expect(first).toBeCloseTo(100 * (1 - 0.5 * 0.999))
    expect(second).toBe(200 * 0.75)
    expect(third).toBe(400)
  })

  it('starts again from the initial delay after a success', () => {
    const backoff = new Backoff(settings, { next: () => 0 })
    backoff.nextDelayMs()
    backoff.nextDelayMs()
    backoff.reset()
    expect(backoff.nextDelayMs()).toBe(100)
  })

  it('never overflows after very many failures', () => {
    const backoff = new Backoff(DEFAULT_RECONNECT, { next: () => 0 })
    for (let i = 0; i < 10_000; i += 1) backoff.nextDelayMs()
    expect(backoff.nextDelayMs()).toBe(DEFAULT_RECONNECT.maxDelayMs)
  })
})
