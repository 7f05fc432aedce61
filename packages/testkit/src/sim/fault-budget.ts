import type { SimCluster } from './sim-cluster'

/**
 * The strict fault budget of overlapping faults: at every instant at most F = ⌊(n−1)/2⌋ replicas are
 * faulty, so a majority of the configuration is always up, connected, on time and in possession of its
 * state, and every stall the simulator finds is a bug. A replica is faulty while it is
 *
 * - down (crashed, or not yet restarted),
 * - partitioned away from the others,
 * - slowed,
 * - paused (its process stopped: none of its code runs),
 * - its clock skewed beyond the orderer's bound (a `skew` fault),
 * - lying to clients (the `lie` fault, for the whole run),
 * - its disk full (the `full` fault), from the moment it fills until the operator made room (and restarted it, if it
 *   stopped on it),
 * - removed by an operator (the `membership` and `replace` faults), until it serves again after its admission, or
 *   until its replacement serves: while it is out the configuration is one smaller, and tolerates one fault fewer,
 * - its disk lost records it had synced (the `lost-tail` fault), from the kill until it serves again and its disk is
 *   back to the log sequence number it had before the loss (as many records and snapshots written again; a proxy for
 *   holding the order that far, which its writes after the restart reach first): restarted from the shorter log, it
 *   believes it whole, and the others counted what it lost toward a majority,
 * - or restarted without its state (amnesia, or a disk that held nothing) and not yet serving again:
 *   status `normal` in a view that includes it. Until then it must not vote, acknowledge or count toward a
 *   majority, so it is no help to the cluster. A replica restarted from a disk that held its state is not
 *   faulty once it runs: its disk keeps its votes, and the cluster may count on it (recovery from any
 *   majority of disks).
 *
 * The replicas counted are the operator's (`SimCluster.members`): a replaced replica is not, its replacement is.
 *
 * A new fault strikes only if the faulty set, with its victims added, stays within F. Blackouts are the one
 * exception: they kill every replica; the budget is then exceeded until enough of them are back.
 *
 * A new fault also counts, beside the faulty replicas, those that have not served yet since the run began (a
 * first start slow to connect): a replica that never held the state is, to every other replica, one restarted
 * without its state (nothing tells a first run from a run after a wiped disk), so it may not vote or count toward
 * a majority either, and striking the others before it served could leave fewer than a majority able to go on,
 * where a stall is the design. They are not faulty (no fault was injected; the cluster owes them liveness, and
 * a cluster that never forms is a stall): they only hold new faults back. Found (links slow to connect, 3 durable
 * replicas, seed 16): r1 and r3 started the cluster while r2's links were still connecting, then r3 lost its
 * disk; r1 alone held the state, r2 could not be told from an amnesiac, and no view could form again.
 */
/** The reason a liar is faulty for the whole run: alone, it leaves the liar holding the state and voting (see `pick`). */
const LYING = 'lying'

export class FaultBudget {
  /** F: the most replicas that may be faulty at once. */
  readonly limit: number
  private readonly cluster: SimCluster
  /** Active partitions' counts, by replica (a replica may be on the cut-off side of several at once). */
  private readonly partitioned = new Map<string, number>()
  /** Active slowdowns' counts, by replica. */
  private readonly slowed = new Map<string, number>()
  /** Active clock skews' counts, by replica. */
  private readonly skewed = new Map<string, number>()
  /** Restarted without state and not yet seen serving. */
  private readonly amnesiac = new Set<string>()
  /** Disks full (`full`), until the operator made room. */
  private readonly full = new Set<string>()
  /** Replicas whose disk lost synced records (`lost-tail`), with the disk's log sequence number before the loss (`SimCluster.diskPosition`). */
  private readonly tailLostAt = new Map<string, number>()
  /** Removed by an operator and not yet back (see `OverlappingFaultInjector`'s `membership`). */
  private readonly removed = new Set<string>()

  /** Replicas seen serving since the run began (see `faulty`'s `takingState`); the others hold new faults back (see the class). */
  private readonly served = new Set<string>()
  /** Replicas that lie for the whole run: always faulty. */
  private readonly liars: ReadonlySet<string>

  constructor(cluster: SimCluster, liars: readonly string[] = []) {
    this.cluster = cluster
    this.limit = Math.floor((cluster.members.length - 1) / 2)
    this.liars = new Set(liars)
  }

  /** The `faulty` replicas (just computed: it notes who serves) and those not seen serving yet: what a new fault must leave within F. */
  private heldBack(faulty: ReadonlyMap<string, string>): Set<string> {
    const held = new Set(faulty.keys())
    for (const id of this.cluster.members) if (!this.served.has(id)) held.add(id)
    return held
  }

  /**
   * The replicas faulty now, each with why (`down`, `partitioned`, `slow`, `clock skewed`, `amnesia`), in
   * configuration order. With `takingState`, also replicas that served and now take the cluster's state again in a
   * run without disks (removed after a partition, or behind): no fault was injected into them, but they hold no
   * state the cluster could resume from, so with them the members holding the state may be fewer than a majority,
   * and if those fail the state is gone (`OverlappingFaultInjector.stateMayBeLost`).
   */
  faulty(options: { readonly takingState?: boolean } = {}): Map<string, string> {
    const faulty = new Map<string, string>()
    for (const id of this.cluster.members) {
      const reasons: string[] = []
      if (this.liars.has(id)) reasons.push(LYING)
      if (!this.cluster.isRunning(id)) reasons.push('down')
      else if (this.amnesiac.has(id)) {
        if (this.cluster.isServing(id)) {
          this.amnesiac.delete(id)
          this.served.add(id)
        } else reasons.push('restarted without state, not serving yet')
      } else if (this.cluster.isServing(id)) this.served.add(id)
      else if (options.takingState && !this.cluster.durable && this.served.has(id) && this.cluster.isTakingState(id)) reasons.push('taking the state again (no disk)')
      const heldBefore = this.tailLostAt.get(id)
      if (heldBefore !== undefined) {
        if (this.cluster.isServing(id) && this.cluster.diskPosition(id) >= heldBefore) this.tailLostAt.delete(id)
        else reasons.push(`its disk lost synced records (it held the order up to ${heldBefore})`)
      }
      if (this.partitioned.has(id)) reasons.push('partitioned')
      if (this.slowed.has(id)) reasons.push('slow')
      if (this.cluster.isPaused(id)) reasons.push('paused')
      if (this.skewed.has(id)) reasons.push('clock skewed')
      if (this.full.has(id)) reasons.push('disk full')
      if (this.removed.has(id)) reasons.push('removed by an operator')
      if (reasons.length > 0) faulty.set(id, reasons.join(', '))
    }
    return faulty
  }

  /** How many replicas are faulty now (see `faulty`). */
  count(options: { readonly takingState?: boolean } = {}): number {
    return this.faulty(options).size
  }

  /**
   * True if striking `victims` keeps the faulty replicas, with those that have not served yet, within F (victims
   * already counted cost nothing).
   */
  allows(victims: readonly string[]): boolean {
    const held = this.heldBack(this.faulty())
    for (const victim of victims) held.add(victim)
    return held.size <= this.limit
  }

  /**
   * Picks up to `count` victims from `candidates` (in the order given, which the caller shuffled) so that the
   * faulty replicas, with those that have not served yet, stay within F; replicas already faulty cost nothing.
   * May return fewer, or none.
   */
  pick(candidates: readonly string[], count: number): string[] {
    const faulty = this.faulty()
    const held = this.heldBack(faulty)
    const victims: string[] = []
    for (const candidate of candidates) {
      if (victims.length >= count) break
      // A faulty replica costs nothing, even while a blackout keeps the budget exceeded; one that has not served yet
      // costs nothing only while the count stays within F (else every replica of a cluster still forming would be
      // free to strike). A liar whose only fault is its lying holds the state and votes like a correct replica: it
      // costs nothing only as long, too. Found (register, 3 replicas, a byzantine voter, seed 383): r1 started the
      // cluster with the liar r3 while r2's links were still connecting, r3 then lost its state, and r1 alone held
      // it; r2, which could not be told from an amnesiac, could not vote, and no view could form again.
      const free = faulty.has(candidate) && faulty.get(candidate) !== LYING
      if (free || (held.has(candidate) ? held.size <= this.limit : held.size < this.limit)) {
        victims.push(candidate)
        held.add(candidate)
      }
    }
    return victims
  }

  /** `id` was started again; `withState` tells whether it recovered from a disk that held its state. */
  restarted(id: string, withState: boolean): void {
    if (withState) this.amnesiac.delete(id)
    else this.amnesiac.add(id)
  }

  partitionStarted(side: readonly string[]): void {
    for (const id of side) this.partitioned.set(id, (this.partitioned.get(id) ?? 0) + 1)
  }

  partitionEnded(side: readonly string[]): void {
    for (const id of side) decrement(this.partitioned, id)
  }

  slowStarted(id: string): void {
    this.slowed.set(id, (this.slowed.get(id) ?? 0) + 1)
  }

  slowEnded(id: string): void {
    decrement(this.slowed, id)
  }

  skewStarted(id: string): void {
    this.skewed.set(id, (this.skewed.get(id) ?? 0) + 1)
  }

  skewEnded(id: string): void {
    decrement(this.skewed, id)
  }

  /** `id`'s disk lost synced records in a crash; it held records up to `heldBefore`, a log sequence number (see `faulty`). */
  tailLost(id: string, heldBefore: number): void {
    this.tailLostAt.set(id, Math.max(heldBefore, this.tailLostAt.get(id) ?? 0))
  }

  /** True while some replica's disk is short of the records it held before it lost synced ones (see `faulty`). */
  disksShort(): boolean {
    if (this.tailLostAt.size === 0) return false // no `lost-tail` fault struck: the budget is not looked at (runs without one draw as before)
    this.faulty()
    for (const id of this.tailLostAt.keys()) if (this.cluster.members.includes(id)) return true
    return false
  }

  diskFilled(id: string): void {
    this.full.add(id)
  }

  roomMade(id: string): void {
    this.full.delete(id)
  }

  removalStarted(id: string): void {
    this.removed.add(id)
  }

  removalEnded(id: string): void {
    this.removed.delete(id)
  }
}

function decrement(counts: Map<string, number>, id: string): void {
  const left = (counts.get(id) ?? 0) - 1
  if (left > 0) counts.set(id, left)
  else counts.delete(id)
}
