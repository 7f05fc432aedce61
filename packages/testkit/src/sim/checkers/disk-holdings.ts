import type { Delivery, MajorityDurable } from './incarnation-record'

/**
 * Which replicas' disks held each delivery, to tell the ones a majority held (`MajorityDurable`). A delivery is
 * a request at a position *as it ran there*: executed, or a duplicate the session table answered without
 * executing it. A majority holding request k at position p as a duplicate says the cluster executed k before p;
 * it never vouches for an execution of k at p that a crashed replica made in an order the cluster lost.
 */
export class DiskHoldings {
  private readonly holders = new Map<string, Set<string>>()

  /** `replica`'s disk holds `delivery` (by position, request and how it ran; also with its agreed time). */
  held(replica: string, delivery: Delivery): void {
    for (const at of [holdingKey(delivery, false), holdingKey(delivery, true)]) {
      const replicas = this.holders.get(at) ?? new Set<string>()
      replicas.add(replica)
      this.holders.set(at, replicas)
    }
  }

  /** The `MajorityDurable` of a cluster in which `majority` disks are a majority. */
  majorityDurable(majority: number): MajorityDurable {
    return (delivery, withTime = false) => (this.holders.get(holdingKey(delivery, withTime))?.size ?? 0) >= majority
  }
}

/** `12 c1#3`, `12 c1#3 (duplicate)`, and with its time `12 c1#3 @840`. */
function holdingKey(delivery: Pick<Delivery, 'position' | 'key' | 'executed' | 'time'>, withTime: boolean): string {
  const held = `${delivery.position} ${delivery.key}${delivery.executed ? '' : ' (duplicate)'}`
  return withTime ? `${held} @${String(delivery.time)}` : held
}
