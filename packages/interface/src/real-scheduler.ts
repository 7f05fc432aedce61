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
  /** Runs the next generation of deferred work in the same turn; hosts without it give each generation a turn. */
  readonly queueMicrotask?: (fn: () => void) => void
}

/** Options of {@link realScheduler}. */
export interface RealSchedulerOptions {
  /**
   * Generations of deferred work run back to back in one event-loop turn (default `GENERATIONS_PER_TURN`, 16). Work
   * deferred while deferred work runs is the next generation: it runs in the same turn, after the promise
   * continuations the last generation set off, up to this many; then I/O and timers get their turn. A cluster in one
   * process (memory transport) spent about a fifth of its time polling the event loop with one generation per turn
   * and serves 20–50 % more with 16; replicas over TCP, measured side by side in ten alternating pairs with file
   * storage, served the same or ~5 % more (docs/benchmarks.md, step 17). With 1, each generation waits for the next
   * turn, and the socket reads of the turn in between join its batch.
   */
  readonly generationsPerTurn?: number
}

/** The generations of deferred work a real scheduler runs per event-loop turn by default (see {@link RealSchedulerOptions.generationsPerTurn}). */
export const GENERATIONS_PER_TURN = 16

/**
 * The real scheduler: host timers, `setImmediate` for deferred work, and a monotonic millisecond clock
 * on the epoch scale (`performance.timeOrigin + performance.now()`). Monotonic, so wall-clock steps never
 * move it backwards; epoch-scaled, so readings taken by a later process are larger (incarnations are
 * start times and must grow across restarts).
 */
export function realScheduler(options: RealSchedulerOptions = {}): Scheduler {
  const host = globalThis as unknown as HostGlobals
  const { performance } = host
  const origin = performance.timeOrigin
  const generations = options.generationsPerTurn ?? GENERATIONS_PER_TURN
  if (!Number.isSafeInteger(generations) || generations < 1) throw new RangeError(`realScheduler: generationsPerTurn must be an integer >= 1 (got ${options.generationsPerTurn})`)
  const queue = queueFor(generations)
  return {
    now: () => origin + performance.now(),
    setTimer(delayMs: number, fn: () => void): TimerHandle {
      return host.setTimeout(fn, Math.max(0, delayMs))
    },
    clearTimer(handle: TimerHandle) {
      host.clearTimeout(handle)
    },
    defer(fn: () => void) {
      queue.defer(fn)
    },
  }
}

/** One queue per setting, shared by every real scheduler of the process made with it. */
const queues = new Map<number, DeferredWork>()

function queueFor(generations: number): DeferredWork {
  let queue = queues.get(generations)
  if (!queue) queues.set(generations, (queue = new DeferredWork(generations)))
  return queue
}

/**
 * The deferred work of the real schedulers of one setting, in the order deferred: run by one `setImmediate` per
 * turn instead of one per call (a busy in-process cluster defers a link's hand-over or a flush several times per
 * request). Work deferred while the queue runs is the next generation: after everything of this one. With more than
 * one generation per turn it runs after the promise continuations this one set off (a microtask queued behind
 * them) in the same turn, up to the limit; then in the next turn, so that I/O and timers are never held off long.
 */
class DeferredWork {
  private deferred: (() => void)[] = []
  /** A drain is due (a turn, or the next generation of this one): work deferred meanwhile joins it. */
  private scheduled = false
  /** Generations run in this turn so far. */
  private generations = 0
  private readonly perTurn: number
  /** The host's `queueMicrotask`; without it every generation gets a turn of its own. */
  private readonly microtask: ((fn: () => void) => void) | undefined
  /** Starts a turn's first generation (made once: a turn is scheduled per burst of work). */
  private readonly turn = () => {
    this.generations = 0
    this.drain()
  }

  constructor(perTurn: number) {
    this.perTurn = perTurn
    this.microtask = (globalThis as unknown as HostGlobals).queueMicrotask
  }

  defer(fn: () => void): void {
    this.deferred.push(fn)
    if (!this.scheduled) this.scheduleTurn()
  }

  private scheduleTurn(): void {
    this.scheduled = true
    const host = globalThis as unknown as HostGlobals
    if (host.setImmediate) host.setImmediate(this.turn)
    else host.setTimeout(this.turn, 0) // hosts without setImmediate
  }

  private drain(): void {
    const batch = this.deferred
    this.deferred = []
    for (let i = 0; i < batch.length; i++) {
      try {
        batch[i]!()
      } catch (error) {
        // The rest still run, first in the next turn (as the host runs the immediates after one that threw).
        this.deferred = batch.slice(i + 1).concat(this.deferred)
        this.scheduled = false
        if (this.deferred.length > 0) this.scheduleTurn()
        throw error
      }
    }
    const microtask = this.microtask
    if (++this.generations < this.perTurn && microtask) microtask(() => this.nextGeneration(0))
    else {
      this.scheduled = false
      if (this.deferred.length > 0) this.scheduleTurn()
    }
  }

  /**
   * Runs the next generation once the promise continuations of the last one had their turns (a reply resolves a
   * client's call, whose caller submits again: a few microtasks later); with nothing deferred by then, the next
   * `defer` asks for a turn of its own.
   */
  private nextGeneration(hops: number): void {
    if (this.deferred.length > 0) this.drain()
    else if (hops < CONTINUATION_HOPS) this.microtask!(() => this.nextGeneration(hops + 1))
    else this.scheduled = false
  }
}

/** Microtask turns a generation waits for the continuations it set off before the turn ends without them. */
const CONTINUATION_HOPS = 4
