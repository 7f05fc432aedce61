import type { Logger, ReplicaId } from '@lockstep/interface'
import type { ViewValue } from './peer-messages'

/**
 * What the next view change should do besides removing failed members: add
 * the replicas that asked to join (or restarted and must rejoin), and apply
 * the operator's removals and admissions. A request from an incarnation the
 * current view already admitted is stale (a late message) and is ignored.
 */
export class MembershipRequests {
  private readonly log: Logger
  /** Replicas asking to join, with the incarnation they asked with. */
  readonly joins = new Map<ReplicaId, number>()
  /**
   * Replicas an operator asked this replica to remove: they leave the view and the configuration, and may not rejoin
   * until admitted. Held in memory; once a view carried the removal out, its value names them (`removedByView`).
   */
  readonly removals = new Set<ReplicaId>()
  /**
   * The replicas the last installed view's value names as removed by an operator and not admitted since (kept on
   * the disks with that value, and passed on by every later view): their requests to join are refused after this
   * replica restarts too. Found: the removal lived only in the memory of the replicas that heard the operator's
   * command; a member restarted from its disk took the removed replica's request to join for a new one and added it
   * back (a member outside the configuration), a member that still held the removal removed it again, and the
   * cluster changed views for ever; once every member had restarted, the removed replica was back for good.
   */
  private removedByView: ReadonlySet<ReplicaId> = new Set()
  /** Replicas an operator admitted: they enter the configuration at the next view change. */
  readonly admissions = new Set<ReplicaId>()
  /** The incarnation each member was admitted with (by the view that added it as a joiner, or named it in `admitted`). */
  readonly admitted = new Map<ReplicaId, number>()

  /** When each replica in `joins` last asked (a replica waiting to be added asks again every half view-change timeout). */
  private readonly askedAt = new Map<ReplicaId, number>()
  private readonly now: () => number

  constructor(log: Logger, now: () => number) {
    this.log = log
    this.now = now
  }

  /** A replica asks to be added (`join`), or restarted from its disk and must be brought back (`recover`). */
  askedToJoin(replica: ReplicaId, incarnation: number, why: 'join' | 'recover', view: { readonly id: number; readonly members: readonly ReplicaId[] }, leftView?: number): void {
    if (this.refuses(replica) || !Number.isFinite(incarnation)) return
    if (this.joins.get(replica) === incarnation) {
      this.askedAt.set(replica, this.now()) // asked again
      return
    }
    // Already admitted: a late message, unless the member says it gave up its state in this view.
    const gaveUpState = leftView !== undefined && leftView >= view.id
    if (view.members.includes(replica) && (this.admitted.get(replica) ?? -Infinity) >= incarnation && !gaveUpState) return
    this.log.info(why === 'join' ? `replica '${replica}' asks to join view ${view.id}` : `replica '${replica}' restarted from its disk; it rejoins by state transfer`)
    this.joins.set(replica, incarnation)
    this.askedAt.set(replica, this.now())
  }

  /**
   * Drops the requests not asked again for `afterMs`: the replica stopped (crashed for good), or it was added by a
   * view this replica did not take part in and stopped asking. Kept, such a request made a view change needed on
   * every tick until a view added the replica, though it was down, and the next removed it again. Found by the
   * simulator's check that a settled cluster stops changing views: a join delayed in a full link reached r4 after
   * r3 had been added and removed; r3 then crashed for good, and r4's proposal put it back (DSL spec safe-mutex.sm,
   * 5 replicas, real time, links of 32 messages, seed 9000186). A replica that still waits asks again and is
   * back in `joins` at once.
   */
  expire(afterMs: number): void {
    const now = this.now()
    for (const [replica, at] of this.askedAt) {
      if (!this.joins.has(replica)) this.askedAt.delete(replica)
      else if (now - at >= afterMs) {
        this.joins.delete(replica)
        this.askedAt.delete(replica)
        this.log.info(`replica '${replica}' has not asked to join again for ${afterMs} ms: its request is dropped (it asks again if it still waits)`)
      }
    }
  }

  /** An operator asks to remove `replica`. */
  remove(replica: ReplicaId): void {
    if (this.removals.has(replica)) return
    this.log.info(`replica '${replica}' is to be removed`)
    this.removals.add(replica)
    this.admissions.delete(replica)
  }

  /** An operator admits `replica`: it may join, and enters the configuration. */
  admit(replica: ReplicaId): void {
    this.removals.delete(replica)
    this.admissions.add(replica)
  }

  /** True if `replica` was removed by an operator (by a command this replica heard, or by the view) and not admitted since. */
  refuses(replica: ReplicaId): boolean {
    return this.removals.has(replica) || (this.removedByView.has(replica) && !this.admissions.has(replica))
  }

  /** The replicas the last installed view (or, restarted, the disk's) names as removed; see `removedByView`. */
  get removedInView(): readonly ReplicaId[] {
    return [...this.removedByView]
  }

  /** Restarted from a disk: the removed replicas its view's value names. */
  restoreRemoved(removed: readonly ReplicaId[]): void {
    this.removedByView = new Set(removed)
  }

  /** True if a view change has membership work to do, given the current view and configuration. */
  pending(members: readonly ReplicaId[], configuration: readonly ReplicaId[]): boolean {
    return (
      this.joins.size > 0 ||
      [...this.removals, ...this.removedByView].some((r) => this.refuses(r) && (members.includes(r) || configuration.includes(r))) ||
      [...this.admissions].some((r) => !configuration.includes(r))
    )
  }

  /** A view was installed: the joins it admitted are done, and its joiners' incarnations are remembered. */
  installed(value: ViewValue): void {
    // The view names the incarnation of each replica it admitted: its joiners, and every member of a view that
    // resumes the cluster from disks, the source of the state too. Found: the source of such a view had asked to
    // join while it waited outside; with no admitted incarnation on record its join stayed pending after the view
    // was installed, and since it promised with its live state no view added it, so every tick started another
    // view change, for ever.
    // The members it carries on come with the incarnation they were admitted with (`admitted`), so a replica that
    // enters by this view, and never installed the view that admitted them, knows a late join of theirs for one.
    for (const [replica, incarnation] of [...Object.entries(value.incarnations), ...Object.entries(value.admitted ?? {})]) {
      if (value.view.members.includes(replica)) this.admitted.set(replica, Math.max(incarnation, this.admitted.get(replica) ?? -Infinity))
    }
    for (const joiner of value.joining) {
      const incarnation = value.incarnations[joiner]
      if (this.joins.get(joiner) === incarnation) this.joins.delete(joiner)
    }
    // A member the view carries on as it is (not a joiner) needs no state: its coordinator had it promise with its
    // live state, or found nothing against it. A join this replica still holds from it is from before (a late
    // message, or a request made while outside that another view answered); kept, it would ask for a view change
    // on every tick, and none would ever add a member that promises with its state. A member that does need to
    // join asks again (every half view-change timeout), naming the view it has no state of. Found by the
    // simulator's check that a settled cluster stops changing views (seed 21, mutex, 5 replicas).
    for (const member of value.view.members) if (!value.joining.includes(member) || (this.admitted.get(member) ?? -Infinity) >= (this.joins.get(member) ?? Infinity)) this.joins.delete(member)
    for (const replica of value.configuration) this.admissions.delete(replica)
    this.removedByView = new Set(value.removed ?? [])
  }
}
