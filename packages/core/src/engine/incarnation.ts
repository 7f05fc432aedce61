import type { RandomSource } from '@lockstep/interface'

/** How many distinct nonces share one millisecond: 2^11, so start time and nonce fit a double exactly until 2109. */
const NONCES_PER_MS = 2048

/**
 * A run's incarnation: the millisecond it started, plus a random fraction of a millisecond (1/2048 to 2047/2048).
 *
 * Joins, promises and the views that admit a replica name it by its incarnation, so two runs of one replica must
 * never share one: a run that took the number of a run the cluster admitted would take over that admission, and
 * serve without what the earlier run acknowledged. A start time alone repeats when the clock is set back or held
 * still across a restart without state (an NTP step back); the random part tells such runs apart (two runs that
 * start in the same millisecond share an incarnation with odds of 1 in 2047). Runs started at least a millisecond
 * apart on a clock that moved forward still get growing incarnations, as the cluster's "late join" rule expects.
 */
export function newIncarnation(startMs: number, random: RandomSource): number {
  if (!Number.isFinite(startMs)) throw new RangeError(`a start time must be a finite number of milliseconds (got ${startMs})`)
  const nonce = 1 + Math.floor(random.next() * (NONCES_PER_MS - 1))
  return Math.floor(startMs) + nonce / NONCES_PER_MS
}
