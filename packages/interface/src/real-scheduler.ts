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
  return {
    now: () => origin + performance.now(),
    setTimer(delayMs: number, fn: () => void): TimerHandle {
      return host.setTimeout(fn, Math.max(0, delayMs))
    },
    clearTimer(handle: TimerHandle) {
      host.clearTimeout(handle)
    },
    defer(fn: () => void) {
      deferred.push(fn)
      if (!drainScheduled) scheduleDrain()
    },
  }
}

/**
 * The deferred work of every real scheduler in the process, in the order deferred: run by one `setImmediate` per
 * turn instead of one per call (a busy in-process cluster defers a link's hand-over or a flush several times per
 * request). Work deferred while the queue runs waits for the next turn, as a `setImmediate` made then would.
 */
let deferred: (() => void)[] = []
let drainScheduled = false

function scheduleDrain(): void {
  drainScheduled = true
  const host = globalThis as unknown as HostGlobals
  if (host.setImmediate) host.setImmediate(drain)
  else host.setTimeout(drain, 0) // hosts without setImmediate
}

function drain(): void {
  drainScheduled = false
  const batch = deferred
  deferred = []
  for (let i = 0; i < batch.length; i++) {
    try {
      batch[i]!()
    } catch (error) {
      // The rest still run, first in the next turn (as the host runs the immediates after one that threw).
      deferred = batch.slice(i + 1).concat(deferred)
      if (deferred.length > 0 && !drainScheduled) scheduleDrain()
      throw error
    }
  }
}
