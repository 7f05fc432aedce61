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
