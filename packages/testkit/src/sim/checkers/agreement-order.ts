import { located, type ViolationLocations } from './violation-locations'
import { deliveredByPosition, incarnationName, isTentative, type AcknowledgedAt, type Delivery, type IncarnationRecord, type MajorityDurable } from './incarnation-record'

/**
 * Order across every incarnation of every replica: no two delivered different requests at the same
 * position, and every acknowledged request is at the position its reply named. Deliveries the cluster could
 * lose, never acknowledged and never on a majority's disks (`isTentative`), are not held to it. Reports the
 * first disagreement only: once the order diverged, every later check would just repeat it.
 */
export function checkOrder(incarnations: readonly IncarnationRecord[], acknowledgedAt?: AcknowledgedAt, majorityDurable?: MajorityDurable, locations?: ViolationLocations): string[] {
  const byPosition = new Map<number, { key: string; by: string; replica: string; incarnation: number }>()
  for (const incarnation of incarnations) {
    const name = incarnationName(incarnation)
    for (const delivery of incarnation.deliveries) {
      const { position } = delivery
      if (isTentative(incarnation, delivery, acknowledgedAt, majorityDurable)) continue
      const seen = byPosition.get(position)
      if (!seen) byPosition.set(position, { key: delivery.key, by: name, replica: incarnation.replica, incarnation: incarnation.number })
      else if (seen.key !== delivery.key) {
        return [located(locations, `order: at position ${position} ${seen.by} delivered ${seen.key} but ${name} delivered ${delivery.key}`, [
          { replica: seen.replica, incarnation: seen.incarnation, position, key: seen.key },
          { replica: incarnation.replica, incarnation: incarnation.number, position, key: delivery.key },
        ])]
      }
    }
  }
  for (const [key, position] of acknowledgedAt ?? []) {
    const seen = byPosition.get(position)
    if (seen && seen.key !== key) return [located(locations, `order: ${key} was acknowledged at position ${position}, but ${seen.by} delivered ${seen.key} there`, [{ replica: seen.replica, incarnation: seen.incarnation, position, key: seen.key }])]
  }
  return []
}

/**
 * Agreement with no gaps: every replica that serves at the end holds the whole sequence up to its
 * position, so each position below it was delivered by some incarnation.
 */
export function checkAgreement(incarnations: readonly IncarnationRecord[]): string[] {
  const delivered = new Set(incarnations.flatMap((incarnation) => incarnation.deliveries.map((d) => d.position)))
  const violations: string[] = []
  for (const incarnation of incarnations) {
    const top = incarnation.servingAt
    if (top === undefined) continue
    for (let p = 1; p <= top; p++) {
      if (!delivered.has(p)) {
        violations.push(`agreement: position ${p} below ${incarnation.replica}'s position ${top} was never delivered by any replica`)
        break
      }
    }
  }
  return violations
}

/**
 * Like `isTentative`, for a delivery's time. An acknowledgement names only the request and its position, but a
 * request a client retried after a blackout enters the cluster again with a new time: a lost delivery of its
 * first submission and the acknowledged one of its retry share a key and a position, not a time. With disks
 * (where every acknowledged delivery is on a majority's disks), a delivery's time is binding if a majority's
 * disks held it with that time, or if the incarnation that made it could not have lost it.
 */
function timeIsTentative(incarnation: IncarnationRecord, delivery: Delivery, acknowledgedAt: AcknowledgedAt | undefined, majorityDurable: MajorityDurable | undefined): boolean {
  // Without disks, a delivery this incarnation could lose (see `isTentative`) and never answered from binds nobody
  // to its time: the acknowledgement at its position may be another's, of a retry that entered later.
  if (!majorityDurable) return isTentative(incarnation, delivery, acknowledgedAt) || (couldLose(incarnation, delivery) && delivery.answered !== true)
  if (majorityDurable(delivery, delivery.time !== undefined)) return false
  return couldLose(incarnation, delivery)
}

/**
 * The incarnation died in a blackout, crashed (see `IncarnationRecord.crashed`), rolled the delivery back, or ended
 * the run out of service (`servingAt` undefined though it did not crash: waiting to take the cluster's state, which
 * replaces what it delivered that the cluster did not keep). Found (liars-all seed 22000303, safe-mutex.sm, 5
 * replicas, two liars on their state): r4 delivered c1#69 at position 90, no majority's disks held it, the cluster
 * ordered the client's retry there with a later time, and r4 could not take the state (its sources, two of them
 * liars, disagreed: docs/voting.md "Limits"); its copy was held binding as if r4 served.
 */
function couldLose(incarnation: IncarnationRecord, delivery: Delivery): boolean {
  return incarnation.lostWithMajority === true || incarnation.crashed === true || delivery.superseded === true || incarnation.servingAt === undefined
}

/**
 * Agreed time (`ApplyContext.time`): every replica had the same time at each position, and along each
 * incarnation's state it never decreased, across view changes, restarts and state transfers. Deliveries the
 * cluster could lose are not held to the first rule: in a run with disks, one that no majority's disks held
 * with that time, made by an incarnation that crashed or rolled it back (the same request may be ordered again
 * at that position later, as a client's retry that entered later, so with a later time: its first copy was
 * never answered, a reply waits for a majority's disks); without disks, the tentative ones (`isTentative`).
 * Reports the first disagreement of each kind.
 */
export function checkAgreedTime(incarnations: readonly IncarnationRecord[], acknowledgedAt?: AcknowledgedAt, majorityDurable?: MajorityDurable, locations?: ViolationLocations): string[] {
  const violations: string[] = []
  for (const incarnation of incarnations) {
    const decrease = firstDecrease(incarnation, locations)
    if (decrease) violations.push(decrease)
  }
  const byPosition = new Map<number, { time: number; by: string; at: { replica: string; incarnation: number; position: number; key: string } }>()
  for (const incarnation of incarnations) {
    const name = incarnationName(incarnation)
    for (const delivery of [...deliveredByPosition(incarnation).values()].sort((a, b) => a.position - b.position)) {
      if (delivery.time === undefined || timeIsTentative(incarnation, delivery, acknowledgedAt, majorityDurable)) continue
      const seen = byPosition.get(delivery.position)
      const here = { replica: incarnation.replica, incarnation: incarnation.number, position: delivery.position, key: delivery.key }
      if (!seen) byPosition.set(delivery.position, { time: delivery.time, by: name, at: here })
      else if (seen.time !== delivery.time) {
        violations.push(located(locations, `agreed time: at position ${delivery.position} ${seen.by} had time ${seen.time} but ${name} had ${delivery.time}`, [seen.at, here]))
        return violations
      }
    }
  }
  return violations
}

/**
 * The first delivery of an incarnation whose time is below that of the position before it in the state it
 * extends. Replays the incarnation's state in the order its deliveries happened: a delivery at or below the
 * last position extends the state up to the position before it (what was above was rolled back), and after a
 * whole-state transfer the state is the transferred one, whose deliveries this incarnation did not make.
 */
function firstDecrease(incarnation: IncarnationRecord, locations: ViolationLocations | undefined): string | undefined {
  const state = new Map<number, Delivery>()
  for (const delivery of incarnation.deliveries) {
    if (delivery.afterWholeStateTransfer === true) state.clear()
    for (const position of state.keys()) if (position >= delivery.position) state.delete(position)
    const previous = state.get(delivery.position - 1)
    state.set(delivery.position, delivery)
    if (delivery.time === undefined || previous?.time === undefined || delivery.time >= previous.time) continue
    const at = (d: Delivery) => ({ replica: incarnation.replica, incarnation: incarnation.number, position: d.position, key: d.key })
    return located(locations, `agreed time: ${incarnationName(incarnation)} had time ${delivery.time} at position ${delivery.position}, below ${previous.time} at position ${previous.position}`, [at(previous), at(delivery)])
  }
  return undefined
}
