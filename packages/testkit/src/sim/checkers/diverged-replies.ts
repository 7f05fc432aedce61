import { incarnationName, isTentative, type AcknowledgedAt, type IncarnationRecord, type MajorityDurable } from './incarnation-record'

/** A reply a replica sent: which incarnation, and the requests its state held at each position up to the reply's. */
export interface SentReply {
  readonly incarnation: IncarnationRecord
  /** `[position, request key]` of the state the reply came from (positions it took by state transfer are absent). */
  readonly state: readonly (readonly [number, string])[]
}

/** Where to find the reply a client took: `sent(replica, key, position)`, the last such reply that replica sent. */
export interface DivergedReplyInputs {
  readonly acknowledgedAt: AcknowledgedAt
  /** Which replica's reply each client took, by request key. */
  readonly acknowledgedFrom: ReadonlyMap<string, string>
  readonly sent: (replica: string, key: string, position: number) => SentReply | undefined
  readonly majorityDurable?: MajorityDurable
}

/**
 * No client received a result from a diverged state: the state that a reply a client took was computed from
 * (the replying incarnation's requests at every position up to the reply's) holds, at each position, the
 * request the cluster's order has there. Deliveries the cluster may lose (`isTentative`: a replica whose
 * orderer diverged and that rolled them back by state transfer) do not make the order; so a replica that
 * delivered out of order and answered a client from that state is caught here, even when the request it
 * answered sits at the same position in the cluster's order. Run after `checkOrder` passed.
 */
export function checkDivergedReplies(incarnations: readonly IncarnationRecord[], inputs: DivergedReplyInputs): string[] {
  const order = new Map<number, { key: string; by: string }>()
  for (const incarnation of incarnations) {
    for (const delivery of incarnation.deliveries) {
      if (isTentative(incarnation, delivery, inputs.acknowledgedAt, inputs.majorityDurable)) continue
      if (!order.has(delivery.position)) order.set(delivery.position, { key: delivery.key, by: incarnationName(incarnation) })
    }
  }
  const violations: string[] = []
  for (const [key, position] of inputs.acknowledgedAt) {
    const from = inputs.acknowledgedFrom.get(key)
    const reply = from === undefined ? undefined : inputs.sent(from, key, position)
    if (!reply) continue
    for (const [at, held] of reply.state) {
      const agreed = order.get(at)
      if (agreed && agreed.key !== held) {
        violations.push(
          `diverged reply: ${key} was acknowledged at position ${position} by ${incarnationName(reply.incarnation)}, whose state held ${held} at position ${at}, where the cluster's order has ${agreed.key} (${agreed.by}): a client received a result from a diverged state`,
        )
        break
      }
    }
    if (violations.length >= 3) break
  }
  return violations
}
