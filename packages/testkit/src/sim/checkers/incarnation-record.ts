/** One request delivered by a replica: where in the order, which request, and whether it ran. */
export interface Delivery {
  readonly position: number
  /** The request's `client#seq`. */
  readonly key: string
  /** False for a duplicate the session table answered without executing it again. */
  readonly executed: boolean
  /** The agreed time at its position (`ApplyContext.time`), when recorded. */
  readonly time?: number
  /**
   * The incarnation later replaced its state by a transferred one below this position (it rolled this delivery
   * back): the cluster resumed without it, because no majority's disk held it.
   */
  readonly superseded?: boolean
  /**
   * Superseded, but by a transferred state whose order holds the same requests up to its position (equal
   * digests of the order): the request stays executed at this position, in the state the incarnation took.
   */
  readonly inTransferredState?: boolean
  /**
   * The incarnation took a whole transferred state just before this delivery: the state this delivery extends is
   * the transferred one, not the one its earlier deliveries built.
   */
  readonly afterWholeStateTransfer?: boolean
  /** The incarnation that made it answered its client from it (a reply at this position). */
  readonly answered?: boolean
  /**
   * The replica's digest of the whole order up to this delivery (`ReplicaEngine.orderDigest`), when recorded: two
   * disks hold the same delivery only if they hold the same order up to it (see `DiskHoldings`).
   */
  readonly orderDigest?: string
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
  /**
   * It crashed, in a run with disks: what it delivered that no majority's disk held may have been lost with it
   * (the replicas that held it may all fail one after another), and the cluster may have resumed without it.
   * Also set for a crash in a run whose orderer rests on timing assumptions (`Orderer.timingAssumptions`, real-time
   * ordering): when they break, such a replica may deliver out of order before it finds out (alone behind a
   * partition longer than Δ, say), and the engine answers from a delivery only once a majority reported the same
   * order there; what it delivered alone and never answered binds nobody once it crashed without its state.
   */
  readonly crashed?: boolean
  /**
   * Its orderer lost its guarantee (`OrdererContext.diverged`: real-time ordering whose timing assumptions broke
   * here), it dropped its state to take the cluster's by transfer, and it had not taken one when the run ended (an
   * operator replaced it meanwhile, so it is never let back in, say). The transfer would have rolled back what it
   * delivered out of order before it found out; what it delivered and never answered binds nobody, as after a crash.
   */
  readonly droppedState?: boolean
}

/**
 * True if a majority of the replicas' disks held `delivery` (in a run with disks): its request at its position,
 * executed there or answered there as a duplicate, as the delivery was, on the same order up to it (see
 * `DiskHoldings`). Such a delivery survives any failures and must never be contradicted, acknowledged or not.
 * `withTime`: held there with the delivery's agreed time too (a request a client retried enters again with a new
 * time, and may replace a lost delivery of itself at the same position).
 */
export type MajorityDurable = (delivery: Pick<Delivery, 'position' | 'key' | 'executed' | 'time' | 'orderDigest'>, withTime?: boolean) => boolean

/** Where each acknowledged request executed, by `client#seq`, as its reply said. */
export type AcknowledgedAt = ReadonlyMap<string, number>

/**
 * A delivery the cluster may legitimately have lost: never acknowledged at that position, never on a majority's
 * disks, and made by an incarnation that died in a loss of a majority's memory (a blackout), that crashed in a
 * run with disks, that rolled it back by taking a transferred state, or that dropped its state when its order
 * diverged and took none since (`droppedState`). A reply waits for a majority's disks,
 * so every acknowledged request survives; an unacknowledged one that no majority held may not, and the
 * cluster may then order another request at its position (as Raft truncates uncommitted entries).
 */
export function isTentative(incarnation: IncarnationRecord, delivery: Delivery, acknowledgedAt: AcknowledgedAt | undefined, majorityDurable?: MajorityDurable): boolean {
  if (acknowledgedAt?.get(delivery.key) === delivery.position) return false
  if (majorityDurable?.(delivery)) return false
  return incarnation.lostWithMajority === true || incarnation.crashed === true || incarnation.droppedState === true || delivery.superseded === true
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
