import type { Scheduler, TimerHandle } from './clock'

/**
 * The real scheduler: Node timers, `setImmediate` for deferred work, and a monotonic
 * millisecond clock on the epoch scale (`performance.timeOrigin + performance.now()`).
 * Monotonic, so wall-clock steps never move it backwards; epoch-scaled, so readings
 * taken by a later process are larger (incarnations are start times and must grow
 * across restarts).
 */
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
