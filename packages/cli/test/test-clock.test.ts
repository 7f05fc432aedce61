import { describe, expect, it } from 'vitest'
import { testClockSkewable } from '../src/test-clock'

// The clock itself is the simulator's ReplicaClock (testkit/test/replica-clock.test.ts: set forward it jumps, set
// back it holds still until it catches up); here, only when a replica process runs on it.
describe('the skewable clock of chaos tests', () => {
  it('is on only with LOCKSTEP_TEST_CLOCK=skewable', () => {
    expect(testClockSkewable({})).toBe(false)
    expect(testClockSkewable({ LOCKSTEP_TEST_CLOCK: '1' })).toBe(false)
    expect(testClockSkewable({ LOCKSTEP_TEST_CLOCK: 'skewable' })).toBe(true)
  })
})
