import { incarnationName, type IncarnationRecord } from './incarnation-record'

/** What the clients did: every request they submitted and every one answered, as `client#seq`. */
export interface ClientRecord {
  readonly submitted: ReadonlySet<string>
  readonly acknowledged: ReadonlySet<string>
  /** Every client finished its work, so every request it submitted must have been executed. */
  readonly allFinished: boolean
  /** Requests whose client process stopped before their reply (a client restart): they may or may not have executed. */
  readonly abandoned?: ReadonlySet<string>
}

/**
 * Completeness: every acknowledged request was executed somewhere (none lost, even across crashes), every
 * submitted one too once every client finished (but those its client abandoned), and nothing was executed
 * that no client submitted.
 */
export function checkCompleteness(incarnations: readonly IncarnationRecord[], clients: ClientRecord): string[] {
  const violations: string[] = []
  const executed = new Set<string>()
  for (const incarnation of incarnations) {
    for (const { key, executed: ran, superseded, inTransferredState } of incarnation.deliveries) {
      if (ran && (!superseded || inTransferredState)) executed.add(key)
      if (!clients.submitted.has(key)) violations.push(`${incarnationName(incarnation)} executed ${key}, which no client submitted`)
    }
  }
  const lost = [...clients.acknowledged].filter((key) => !executed.has(key))
  if (lost.length > 0) violations.push(`lost: ${lost.length} acknowledged requests were never executed (first: ${lost[0]})`)
  if (clients.allFinished) {
    const missing = [...clients.submitted].filter((key) => !executed.has(key) && !clients.abandoned?.has(key))
    if (missing.length > 0) violations.push(`agreement: ${missing.length} submitted requests were never executed (first: ${missing[0]})`)
  }
  return violations
}
