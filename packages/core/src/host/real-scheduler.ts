import { performance } from 'node:perf_hooks'
import type { Scheduler, TimerHandle } from '@lockstep/interface'

/** The real scheduler: a monotonic millisecond clock, Node timers, and `setImmediate` for deferred work. */
export function realScheduler(): Scheduler {
  const origin = performance.timeOrigin
  return {
    now: () => origin + performance.now(),
    setTimer(delayMs: number, fn: () => void): TimerHandle {
      return setTimeout(fn, Math.max(0, delayMs))
    },
    clearTimer(handle: TimerHandle) {
      clearTimeout(handle as ReturnType<typeof setTimeout>)
    },
    defer(fn: () => void) {
      setImmediate(fn)
    },
  }
}
