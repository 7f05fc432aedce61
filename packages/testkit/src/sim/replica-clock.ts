import { ErrorCodes, LockstepError, type Clock, type Scheduler, type TimerHandle } from '@lockstep/interface'

/**
 * One simulated replica's clock: the shared virtual time mapped through a drift rate and an offset,
 * `now = virtual * (1 + driftPpm / 1e6) + offsetMs`, and kept monotonic as the `Clock` contract demands: when
 * the offset is set back, the clock holds still until the mapped time catches up with its last reading. With
 * no offset and no drift it reads exactly the virtual time.
 */
export class ReplicaClock implements Clock {
  private readonly base: Clock
  private offset: number
  private readonly drift: number
  /** The last reading handed out: the clock never reads below it. */
  private last = -Infinity

  constructor(base: Clock, offsetMs = 0, driftPpm = 0) {
    if (!Number.isFinite(offsetMs)) throw new LockstepError(ErrorCodes.INVALID_CONFIG, `ReplicaClock: offsetMs must be a finite number (got ${offsetMs})`)
    if (!(Number.isFinite(driftPpm) && driftPpm > -1e6)) throw new LockstepError(ErrorCodes.INVALID_CONFIG, `ReplicaClock: driftPpm must be a finite number above -1,000,000 (got ${driftPpm})`)
    this.base = base
    this.offset = offsetMs
    this.drift = driftPpm
  }

  now(): number {
    const time = this.drift === 0 ? this.base.now() + this.offset : this.base.now() * (1 + this.drift / 1e6) + this.offset
    if (time > this.last) this.last = time
    return this.last
  }

  /** The offset in milliseconds (what `setOffset` set, or what was drawn). */
  get offsetMs(): number {
    return this.offset
  }

  /** The drift rate in parts per million. */
  get driftPpm(): number {
    return this.drift
  }

  /** Sets the offset: a clock set forward jumps at once; one set back holds still until it catches up. */
  setOffset(offsetMs: number): void {
    if (!Number.isFinite(offsetMs)) throw new LockstepError(ErrorCodes.INVALID_CONFIG, `ReplicaClock: offsetMs must be a finite number (got ${offsetMs})`)
    this.offset = offsetMs
  }

  /**
   * How long (virtual ms, without drift) this clock still holds still: set back, it reads its last reading until the
   * time it maps to catches up with it. 0 when it runs.
   */
  heldMs(): number {
    const time = this.drift === 0 ? this.base.now() + this.offset : this.base.now() * (1 + this.drift / 1e6) + this.offset
    return Math.max(0, this.last - time)
  }

  /** How far this clock reads from the virtual time now (positive: ahead). */
  skewMs(): number {
    return this.now() - this.base.now()
  }

  /** A scheduler that reads this clock and runs its timers on `timers` (the shared virtual time). */
  scheduler(timers: Scheduler): Scheduler {
    return {
      now: () => this.now(),
      setTimer: (delayMs: number, fn: () => void): TimerHandle => timers.setTimer(delayMs, fn),
      clearTimer: (handle: TimerHandle) => timers.clearTimer(handle),
      defer: (fn: () => void) => timers.defer(fn),
    }
  }
}

/** Per-replica clocks of a simulated cluster, drawn from the seed (see `SimClusterOptions.clocks`). */
export interface ClockOptions {
  /** Each replica's offset is drawn uniformly from [-maxOffsetMs, maxOffsetMs]. Default 0. */
  readonly maxOffsetMs?: number
  /** Each replica's drift rate is drawn uniformly from [-maxDriftPpm, maxDriftPpm] parts per million. Default 0. */
  readonly maxDriftPpm?: number
}

/** Checks clock options, naming the bad one. */
export function checkClockOptions(options: ClockOptions): void {
  for (const name of ['maxOffsetMs', 'maxDriftPpm'] as const) {
    const value = options[name]
    if (value !== undefined && !(Number.isFinite(value) && value >= 0)) {
      throw new LockstepError(ErrorCodes.INVALID_CONFIG, `clocks.${name} must be a number >= 0 (got ${String(value)})`, { path: `clocks.${name}` })
    }
  }
  if ((options.maxDriftPpm ?? 0) >= 1e6) throw new LockstepError(ErrorCodes.INVALID_CONFIG, `clocks.maxDriftPpm must be below 1,000,000 (got ${options.maxDriftPpm})`, { path: 'clocks.maxDriftPpm' })
}
