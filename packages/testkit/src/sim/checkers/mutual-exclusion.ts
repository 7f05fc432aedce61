import type { WorkloadEvent } from '../workloads'

/**
 * Mutual exclusion from what clients saw: a client holds the lock from the
 * moment its grant arrives until it sends its release. No two such intervals
 * of different clients may overlap.
 */
export function checkMutualExclusion(events: readonly WorkloadEvent[]): string[] {
  const holding = new Map<string, WorkloadEvent>()
  const sorted = [...events].sort((a, b) => a.tick - b.tick)
  const violations: string[] = []
  for (const event of sorted) {
    if (event.kind === 'grant') {
      for (const [other, since] of holding) {
        if (other !== event.client) {
          violations.push(`mutual exclusion violated: '${event.client}' was granted the lock at t=${event.time}ms while '${other}' held it since t=${since.time}ms`)
        }
      }
      holding.set(event.client, event)
    } else if (event.kind === 'release') {
      holding.delete(event.client)
    }
  }
  return violations
}
