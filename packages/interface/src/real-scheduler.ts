import type { Scheduler, TimerHandle } from './clock'

/**
 * What the real scheduler takes from the JavaScript host (Node, browsers, Deno, Bun). Declared here, so
 * the contracts type-check in a project with neither Node's nor the DOM's types.
 */
interface HostGlobals {
  readonly performance: { readonly timeOrigin: number; now(): number }
  setTimeout(fn: () => void, delayMs: number): unknown
  clearTimeout(handle: unknown): void
  /** Node's; hosts without it get a zero-delay timer. */
  readonly setImmediate?: (fn: () => void) => unknown
}

/**
 * The real scheduler: host timers, `setImmediate` for deferred work, and a monotonic millisecond clock
 * on the epoch scale (`performance.timeOrigin + performance.now()`). Monotonic, so wall-clock steps never
 * move it backwards; epoch-scaled, so readings taken by a later process are larger (incarnations are
 * start times and must grow across restarts).
 */
export function realScheduler(): Scheduler {
  const host = globalThis as unknown as HostGlobals
  const { performance } = host
  const origin = performance.timeOrigin
  const defer = host.setImmediate ? (fn: () => void) => host.setImmediate!(fn) : (fn: () => void) => host.setTimeout(fn, 0)
  return {
    now: () => origin + performance.now(),
    setTimer(delayMs: number, fn: () => void): TimerHandle {
      return host.setTimeout(fn, Math.max(0, delayMs))
    },
    clearTimer(handle: TimerHandle) {
      host.clearTimeout(handle)
    },
    defer(fn: () => void) {
      defer(fn)
    },
  }
}
