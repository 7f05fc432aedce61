import type { Delivery, MajorityDurable } from './incarnation-record'

/**
 * Which replicas' disks held each delivery, to tell the ones a majority held (`MajorityDurable`). A delivery is
 * a request at a position *as it ran there*: executed, or a duplicate the session table answered without
 * executing it. A majority holding request k at position p as a duplicate says the cluster executed k before p;
 * it never vouches for an execution of k at p that a crashed replica made in an order the cluster lost.
 *
 * Disks count together only where they hold the same order up to the delivery (the same order digest, when the
 * delivery has one), as the engine's own majority-durable replies do (`DurableReplies` with `confirmOrder`). Two
 * disks can hold the same request at the same position on different orders: the cluster lost one order, a
 * replica took the request again at the same position on another, and that order was lost as well (found: a sweep
 * beyond CI's seeds, real time, register, 3 replicas, 4 clients × 4 in flight, seed 20019). Neither order was on a
 * majority's disks, no reply could have come from it, and the cluster may go on with a third.
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

  /** `replica`'s disk lost every delivery past `position` it held (synced records lost: the `lost-tail` fault). */
  lost(replica: string, position: number): void {
    for (const [at, replicas] of this.holders) if (Number.parseInt(at, 10) > position) replicas.delete(replica)
  }

  /** The `MajorityDurable` of a cluster in which `majority` disks are a majority. */
  majorityDurable(majority: number): MajorityDurable {
    return (delivery, withTime = false) => (this.holders.get(holdingKey(delivery, withTime))?.size ?? 0) >= majority
  }
}

/**
 * `12 c1#3 #<order digest>` (the digest covers the request's time too), `12 c1#3 (duplicate) #…`; for a delivery
 * recorded without a digest `12 c1#3`, and with its time `12 c1#3 @840`.
 */
function holdingKey(delivery: Pick<Delivery, 'position' | 'key' | 'executed' | 'time' | 'orderDigest'>, withTime: boolean): string {
  const held = `${delivery.position} ${delivery.key}${delivery.executed ? '' : ' (duplicate)'}`
  if (delivery.orderDigest !== undefined) return `${held} #${delivery.orderDigest}`
  return withTime ? `${held} @${String(delivery.time)}` : held
}
