import type { Logger, ReplicaId } from '@lockstep/interface'
import type { ViewValue } from './peer-messages'
import { removedByOperator } from './view-change/coordinator'

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
   * The replicas the last installed view's value names as removed by an operator and not admitted since (its
   * `changes` name them, its configuration lacks them; the disks keep that value, and every later view passes it on):
   * their requests to join are refused after this replica restarts too. Found: the removal lived only in the memory of
   * the replicas that heard the operator's command; a member restarted from its disk took the removed replica's request
   * to join for a new one and added it back (a member outside the configuration), a member that still held the
   * removal removed it again, and the cluster changed views for ever; once every member had restarted, the removed
   * replica was back for good.
   */
  private removedByView: ReadonlySet<ReplicaId> = new Set()
  /** The view in which an operator's last change of each replica was carried out (the last installed view's `changes`). */
  private changedIn: ReadonlyMap<ReplicaId, number> = new Map()
  /** The view each pending command (`removals`, `admissions`) was issued in, when its message said. */
  private readonly issuedIn = new Map<ReplicaId, number>()
  /** The newest view an operator's command about each replica was issued in, of those this replica took (a coordinator records them in `ViewValue.changes`). */
  private readonly lastIssued = new Map<ReplicaId, number>()

  /** See `lastIssued`. */
  get commandViews(): ReadonlyMap<ReplicaId, number> {
    return this.lastIssued
  }

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

  /**
   * An operator asks to remove `replica`, by a command issued in view `view` (when the message says). A command issued
   * before the view that carried out the last change of `replica` is stale (a late message, or one that waited at
   * this replica while the replica was admitted again), and is ignored. Found by the simulator's `membership` fault:
   * the removed replica itself held its own removal; admitted again, it carried the removal out a second time.
   */
  remove(replica: ReplicaId, view?: number): void {
    if (this.stale(replica, 'removal', view)) return
    if (!this.removals.has(replica)) this.log.info(`replica '${replica}' is to be removed`)
    this.removals.add(replica)
    this.admissions.delete(replica)
    this.noteIssued(replica, view)
  }

  /** An operator admits `replica` (command issued in view `view`): it may join, and enters the configuration. Stale as `remove`. */
  admit(replica: ReplicaId, view?: number): void {
    if (this.stale(replica, 'admission', view)) return
    this.removals.delete(replica)
    this.admissions.add(replica)
    this.noteIssued(replica, view)
  }

  /**
   * A command issued before the view that carried out the last change of `replica`, or before the newest command
   * about it this replica took (an operator's later command that overtook it, say an admission sent after a removal
   * still held by a partition), is stale.
   */
  private stale(replica: ReplicaId, what: string, view: number | undefined): boolean {
    if (view === undefined) return false
    const changed = this.changedIn.get(replica) ?? -Infinity
    const issued = this.lastIssued.get(replica) ?? -Infinity
    if (view >= changed && view >= issued) return false
    const why = view < changed ? `view ${changed} carried out a later change of it` : `a command about it issued in view ${issued} came first`
    this.log.info(`an operator's ${what} of replica '${replica}' issued in view ${view} is stale: ${why}; ignored`)
    return true
  }

  private noteIssued(replica: ReplicaId, view: number | undefined): void {
    if (view === undefined) {
      this.issuedIn.delete(replica)
      return
    }
    this.issuedIn.set(replica, view)
    this.lastIssued.set(replica, Math.max(view, this.lastIssued.get(replica) ?? -Infinity))
  }

  /** True if `replica` was removed by an operator (by a command this replica heard, or by the view) and not admitted since. */
  refuses(replica: ReplicaId): boolean {
    return this.removals.has(replica) || this.removedByOperator(replica)
  }

  /** True if the view (see `removedByView`) names `replica` as removed by an operator and no admission of it waits. */
  removedByOperator(replica: ReplicaId): boolean {
    return this.removedByView.has(replica) && !this.admissions.has(replica)
  }

  /** Restarted from a disk: the operators' changes its view's value names (none when the disk has no value for its view). */
  restoreChanges(value: ViewValue | undefined): void {
    this.changedIn = new Map(Object.entries(value?.changes ?? {}))
    this.removedByView = new Set(value ? removedByOperator(value.changes, value.configuration) : [])
  }

  /** The ending view's record of operators' changes, for a coordinator (see `ViewValue.changes`). */
  get changes(): Readonly<Record<ReplicaId, number>> | undefined {
    return this.changedIn.size > 0 ? Object.fromEntries(this.changedIn) : undefined
  }

  /**
   * True if a view change has membership work to do, given the current view and configuration. A join from a
   * replica outside the view that a member has not heard from lately (`unheard`) waits: it would stall the order.
   */
  pending(members: readonly ReplicaId[], configuration: readonly ReplicaId[], unheard: (replica: ReplicaId) => boolean = () => false): boolean {
    return (
      [...this.joins.keys()].some((r) => members.includes(r) || !unheard(r)) ||
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
    this.restoreChanges(value)
    this.dropStale(value)
  }

  /**
   * A view was chosen (installed here, or learned of by a replica outside it): the commands waiting here that were
   * issued before a change it records are done or stale. Found: a replica removed by an operator held its own
   * removal; outside the views that carried it out, it never installed them, and coordinating a view change it
   * removed itself again each time an admission put it back.
   */
  dropStale(value: ViewValue): void {
    for (const pending of [this.removals, this.admissions]) {
      for (const replica of pending) {
        const issued = this.issuedIn.get(replica)
        if (issued !== undefined && issued < (value.changes?.[replica] ?? -Infinity)) pending.delete(replica)
      }
    }
  }
}
