import { describe, expect, it } from 'vitest'
import { AWAITED_TURNS_PER_EVENT, PROMISE_TURNS_PER_EVENT, alreadyFulfilled, runPromiseContinuations } from '../src/sim/promise-continuations'

/** Starts a chain of continuations one microtask turn apart, then lets `drive` wait; where the driver resumed in it. */
async function resumedAfter(drive: (log: string[]) => Promise<void>): Promise<string[]> {
  const log: string[] = []
  const chain = (async () => {
    for (let step = 1; step <= 10; step++) {
      await undefined
      log.push(`chain ${step}`)
    }
  })()
  await drive(log)
  await chain
  return log.slice(0, log.indexOf('driver') + 1)
}

// The simulator's loops wait for an event's continuations inline, without an async call per event (the promises
// of those calls were half of what a world run allocated). Each run must stay the same function of its seed, so
// the inline wait must resume the driver on exactly the turn `await runPromiseContinuations()` does.
describe('waiting for the continuations of an event', () => {
  it('inline, resumes the driver on the same microtask turn as awaiting runPromiseContinuations', async () => {
    const called = await resumedAfter(async (log) => {
      await runPromiseContinuations()
      log.push('driver')
    })
    const inline = await resumedAfter(async (log) => {
      for (let turn = 0; turn < AWAITED_TURNS_PER_EVENT; turn++) await alreadyFulfilled
      log.push('driver')
    })
    expect(inline).toEqual(called)
    // The chain's first PROMISE_TURNS_PER_EVENT + 1 steps ran before the driver went on.
    expect(called).toEqual([...Array.from({ length: PROMISE_TURNS_PER_EVENT + 1 }, (_, i) => `chain ${i + 1}`), 'driver'])
  })
})
