import type { RandomSource } from '@lockstep/interface'
import type { ResolvedReconnect } from './options'

/** `Math.random` as a {@link RandomSource}: the default jitter source. */
export const mathRandom: RandomSource = { next: () => Math.random() }

/**
 * Exponential backoff with jitter: after the n-th consecutive failure the
 * delay is min(max, initial × multiplier^(n-1)) × (1 − jitter × r), r drawn
 * from the injected random source. Jitter spreads the reconnects of many
 * nodes that lost the same peer at the same moment.
 */
export class Backoff {
  private failures = 0

  constructor(
    private readonly settings: ResolvedReconnect,
    private readonly random: RandomSource = mathRandom,
  ) {}

  /** The delay before the next attempt; counts one more failure. */
  nextDelayMs(): number {
    const exponent = Math.min(this.failures, 64)
    this.failures += 1
    const base = Math.min(this.settings.maxDelayMs, this.settings.initialDelayMs * this.settings.multiplier ** exponent)
    return base * (1 - this.settings.jitter * this.random.next())
  }

  /** A connection succeeded: start again from the initial delay. */
  reset(): void {
    this.failures = 0
  }
}
