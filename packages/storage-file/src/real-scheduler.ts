import type { Scheduler } from '@lockstep/interface'

/** Real timers for the 'interval' policy. */
export function realScheduler(): Scheduler {
  return {
    now: () => performance.now(),
    setTimer: (delayMs, fn) => setTimeout(fn, delayMs),
    clearTimer: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
    defer: (fn) => setImmediate(fn),
  }
}
