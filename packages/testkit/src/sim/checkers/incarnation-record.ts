/** One request delivered by a replica: where in the order, which request, and whether it ran. */
export interface Delivery {
  readonly position: number
  /** The request's `client#seq`. */
  readonly key: string
  /** False for a duplicate the session table answered without executing it again. */
  readonly executed: boolean
}

/** What one incarnation of a replica (one run of its process, between a start and a crash) delivered. */
export interface IncarnationRecord {
  readonly replica: string
  /** 0 for the first run of the replica, then 1, 2, … for each restart. */
  readonly number: number
  /** Every delivery, in the order they happened. */
  readonly deliveries: readonly Delivery[]
  /** Its position at the end of the run, if it is still up and serving then (the checks judge only those). */
  readonly servingAt?: number
  /**
   * It crashed while, or before, more than F replicas were down at once (a blackout): the memory of a
   * majority was lost, so what it delivered and no client saw may have been lost with it, and the cluster
   * may have resumed without it.
   */
  readonly lostWithMajority?: boolean
}

/** Where each acknowledged request executed, by `client#seq`, as its reply said. */
export type AcknowledgedAt = ReadonlyMap<string, number>

/**
 * A delivery the cluster may legitimately have lost: made by an incarnation that died in a loss of a majority's
 * memory (a blackout), and never acknowledged at that position. A reply waits for a majority's disks, so
 * every acknowledged request survives any such loss; an unacknowledged one may not, and the cluster may
 * then order another request at its position.
 */
export function isTentative(incarnation: IncarnationRecord, delivery: Delivery, acknowledgedAt: AcknowledgedAt | undefined): boolean {
  return incarnation.lostWithMajority === true && acknowledgedAt?.get(delivery.key) !== delivery.position
}

/** How violations name an incarnation: `r2`, or `r2 (restart 1)`. */
export function incarnationName(incarnation: IncarnationRecord): string {
  return incarnation.number === 0 ? incarnation.replica : `${incarnation.replica} (restart ${incarnation.number})`
}

/** The request an incarnation delivered at each position (the last one, if it delivered a position twice), in first-delivery order. */
export function deliveredByPosition(incarnation: IncarnationRecord): Map<number, Delivery> {
  const byPosition = new Map<number, Delivery>()
  for (const delivery of incarnation.deliveries) byPosition.set(delivery.position, delivery)
  return byPosition
}
