import { describe, expect, it } from 'vitest'
import type { Scheduler } from '@lockstep/interface'
import { SkewableScheduler, testClockSkewable } from '../src/index'

/** A base scheduler whose time the test sets. */
function manualBase(): Scheduler & { time: number } {
  const base = { time: 1_000, now: () => base.time, setTimer: () => undefined, clearTimer: () => {}, defer: (fn: () => void) => fn() }
  return base
}

describe('the skewable clock of chaos tests', () => {
  it('jumps when set ahead, holds still when set back until the machine catches up, and never reads less', () => {
    const base = manualBase()
    const clock = new SkewableScheduler(base)
    expect(clock.now()).toBe(1_000)
    clock.setOffset(500)
    expect(clock.now()).toBe(1_500)
    expect(clock.offsetMs).toBe(500)
    clock.setOffset(0)
    base.time = 1_200
    expect(clock.now()).toBe(1_500) // held
    base.time = 1_600
    expect(clock.now()).toBe(1_600)
    clock.setOffset(-300)
    base.time = 1_800
    expect(clock.now()).toBe(1_600) // 1,500: still held
    base.time = 2_000
    expect(clock.now()).toBe(1_700)
  })

  it('refuses an offset that is not a finite number', () => {
    const clock = new SkewableScheduler(manualBase())
    expect(() => clock.setOffset(Number.NaN)).toThrow('a clock offset must be a finite number of milliseconds, not NaN')
    expect(() => clock.setOffset(Infinity)).toThrow(RangeError)
  })

  it('is on only with LOCKSTEP_TEST_CLOCK=skewable', () => {
    expect(testClockSkewable({})).toBe(false)
    expect(testClockSkewable({ LOCKSTEP_TEST_CLOCK: '1' })).toBe(false)
    expect(testClockSkewable({ LOCKSTEP_TEST_CLOCK: 'skewable' })).toBe(true)
  })
})
