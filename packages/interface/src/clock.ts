/**
 * Time as deterministic code sees it. The engine, orderers and state machines
 * read time only through this; the host injects a real clock, the simulator a
 * virtual one.
 */
export interface Clock {
  /** Milliseconds on this clock. Never decreases. */
  now(): number
}

/** A seeded source of randomness: the only randomness deterministic code may use. */
export interface RandomSource {
  /** A float in [0, 1). */
  next(): number
}

/** An opaque handle returned by {@link Scheduler.setTimer}. */
export type TimerHandle = unknown

/**
 * Timers for hosts and transports (never for the engine). The real one wraps
 * setTimeout; the simulator's runs on virtual time.
 */
export interface Scheduler extends Clock {
  /** Runs `fn` after `delayMs` milliseconds. */
  setTimer(delayMs: number, fn: () => void): TimerHandle
  /** Cancels a timer; cancelling a fired or cancelled timer does nothing. */
  clearTimer(handle: TimerHandle): void
  /** Runs `fn` soon, after the current burst of work (for batching). */
  defer(fn: () => void): void
}
