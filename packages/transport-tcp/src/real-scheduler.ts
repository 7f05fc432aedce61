import type { Scheduler } from '@lockstep/interface'

/** The real clock and timers (performance.now, setTimeout, setImmediate). */
export const realScheduler: Scheduler = {
  now: () => performance.now(),
  setTimer: (delayMs, fn) => setTimeout(fn, delayMs),
  clearTimer: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
  defer: (fn) => {
    setImmediate(fn)
  },
}
