import type { IncarnationRecord } from '../../src/sim/checkers/incarnation-record'

/**
 * An incarnation that delivered `requests` at positions 1, 2, … (or at the positions given as
 * `[position, key]`); a key ending in `!` was a duplicate, delivered but not executed.
 */
export function incarnation(replica: string, number: number, requests: readonly (string | readonly [number, string])[], servingAt?: number): IncarnationRecord {
  return {
    replica,
    number,
    servingAt,
    deliveries: requests.map((request, i) => {
      const [position, key] = typeof request === 'string' ? [i + 1, request] : request
      return key.endsWith('!') ? { position, key: key.slice(0, -1), executed: false } : { position, key, executed: true }
    }),
  }
}
