import { located, type ViolationLocations } from './violation-locations'
import { incarnationName, isTentative, type AcknowledgedAt, type IncarnationRecord, type MajorityDurable } from './incarnation-record'

/**
 * Exactly-once execution: no incarnation executed a request twice, and no request was executed at two
 * different positions (by any incarnations; an execution the cluster could lose, never acknowledged and never
 * on a majority's disks, `isTentative`, does not count).
 */
export function checkExactlyOnce(incarnations: readonly IncarnationRecord[], acknowledgedAt?: AcknowledgedAt, majorityDurable?: MajorityDurable, locations?: ViolationLocations): string[] {
  const violations: string[] = []
  const executedAt = new Map<string, { position: number; replica: string; incarnation: number }>()
  for (const incarnation of incarnations) {
    const executed = new Set<string>()
    let twice = 0
    for (const { key, executed: ran, superseded } of incarnation.deliveries) {
      // An execution it rolled back (by taking a transferred state) does not count: the request runs again.
      if (!ran || superseded) continue
      if (executed.has(key)) twice++
      executed.add(key)
    }
    if (twice > 0) violations.push(`exactly-once: ${incarnationName(incarnation)} executed ${twice} requests twice`)
    for (const delivery of incarnation.deliveries) {
      const { key, position, executed: ran } = delivery
      if (!ran || isTentative(incarnation, delivery, acknowledgedAt, majorityDurable)) continue
      const at = executedAt.get(key)
      const here = { position, replica: incarnation.replica, incarnation: incarnation.number }
      if (at !== undefined && at.position !== position) {
        violations.push(located(locations, `exactly-once: ${key} executed at positions ${at.position} and ${position}`, [{ ...at, key }, { ...here, key }]))
      }
      executedAt.set(key, here)
    }
  }
  return violations
}
