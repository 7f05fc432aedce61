import { deliveredByPosition, incarnationName, isTentative, type AcknowledgedAt, type IncarnationRecord } from './incarnation-record'

/**
 * Exactly-once execution: no incarnation executed a request twice, and no request was executed at two
 * different positions (by any incarnations; an execution lost with a majority's memory and never
 * acknowledged, `isTentative`, does not count).
 */
export function checkExactlyOnce(incarnations: readonly IncarnationRecord[], acknowledgedAt?: AcknowledgedAt): string[] {
  const violations: string[] = []
  const executedAt = new Map<string, number>()
  for (const incarnation of incarnations) {
    const executed = new Set<string>()
    let twice = 0
    for (const { key, executed: ran } of incarnation.deliveries) {
      if (!ran) continue
      if (executed.has(key)) twice++
      executed.add(key)
    }
    if (twice > 0) violations.push(`exactly-once: ${incarnationName(incarnation)} executed ${twice} requests twice`)
    for (const [position, delivery] of deliveredByPosition(incarnation)) {
      const { key, executed: ran } = delivery
      if (!ran || isTentative(incarnation, delivery, acknowledgedAt)) continue
      const at = executedAt.get(key)
      if (at !== undefined && at !== position) violations.push(`exactly-once: ${key} executed at positions ${at} and ${position}`)
      executedAt.set(key, position)
    }
  }
  return violations
}
