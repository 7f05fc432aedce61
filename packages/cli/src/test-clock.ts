import type { Scheduler, TimerHandle } from '@lockstep/interface'

/** Set to `skewable` in a replica process's environment: its parent may set its clock off over IPC (chaos tests only). */
export const TEST_CLOCK_VARIABLE = 'LOCKSTEP_TEST_CLOCK'

/** True when `LOCKSTEP_TEST_CLOCK=skewable`: the replica's clock can be set off by its parent (see {@link SkewableScheduler}). */
export function testClockSkewable(env: NodeJS.ProcessEnv = process.env): boolean {
  return env[TEST_CLOCK_VARIABLE] === 'skewable'
}

/**
 * For chaos tests of clock skew only: a scheduler whose clock reads the base clock plus an offset that can be
 * changed while it runs, as a clock stepped by a bad time source would. It keeps the `Clock` contract (never
 * decreases): set forward it jumps at once; set back it holds still until the base clock catches up with its
 * last reading (the simulator's `ReplicaClock` does the same). Timers and deferred work run on the base.
 */
export class SkewableScheduler implements Scheduler {
  private readonly base: Scheduler
  private offset = 0
  private last = -Infinity

  constructor(base: Scheduler) {
    this.base = base
  }

  now(): number {
    const time = this.base.now() + this.offset
    if (time > this.last) this.last = time
    return this.last
  }

  /** The offset from the base clock, in ms (what `setOffset` set). */
  get offsetMs(): number {
    return this.offset
  }

  /** Sets the offset (ms, finite): forward jumps at once, back holds the clock still until it catches up. */
  setOffset(offsetMs: number): void {
    if (!Number.isFinite(offsetMs)) throw new RangeError(`a clock offset must be a finite number of milliseconds, not ${offsetMs}`)
    this.offset = offsetMs
  }

  setTimer(delayMs: number, fn: () => void): TimerHandle {
    return this.base.setTimer(delayMs, fn)
  }

  clearTimer(handle: TimerHandle): void {
    this.base.clearTimer(handle)
  }

  defer(fn: () => void): void {
    this.base.defer(fn)
  }
}
