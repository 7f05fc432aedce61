import type { Logger, ReplicaId } from '@lockstep/interface'
import type { PeerMessageOf, ViewValue } from './peer-messages'

/**
 * What the next view change should do besides removing failed members: add
 * the replicas that asked to join (or restarted from a disk and must rejoin),
 * and remove the ones an operator asked to remove. Also the cluster's
 * configuration: the replicas that may take part at all.
 */
export class MembershipRequests {
  private readonly log: Logger
  /** Every configured replica: where join requests go, and who may ask to join. */
  readonly configuration: Set<ReplicaId>
  /** Replicas asking to join, with the incarnation they asked with. */
  readonly joins = new Map<ReplicaId, number>()
  /** Replicas an operator removed: their requests to join are refused until an operator admits them again. */
  readonly removals = new Set<ReplicaId>()

  constructor(configuration: Iterable<ReplicaId>, log: Logger) {
    this.configuration = new Set(configuration)
    this.log = log
  }

  /** A replica outside the view asks to be added (`join`), or restarted from its disk while the cluster lives (`recover`). */
  askedToJoin(replica: ReplicaId, incarnation: number, why: 'join' | 'recover', viewId: number): void {
    if (this.removals.has(replica) || this.joins.get(replica) === incarnation || !Number.isFinite(incarnation)) return
    this.log.info(why === 'join' ? `replica '${replica}' asks to join view ${viewId}` : `replica '${replica}' restarted from its disk; it rejoins by state transfer`)
    this.joins.set(replica, incarnation)
  }

  /** An operator asked (at member `from`) to remove `replica`. */
  onRemove(from: ReplicaId, m: PeerMessageOf<'remove'>, isMember: (replica: ReplicaId) => boolean): void {
    if (!isMember(from) || !isMember(m.replica) || this.removals.has(m.replica)) return
    this.log.info(`replica '${m.replica}' is to be removed (asked at '${from}')`)
    this.removals.add(m.replica)
  }

  /** An operator admits `replica`: it may ask to join. */
  admit(replica: ReplicaId): void {
    this.configuration.add(replica)
    this.removals.delete(replica)
  }

  /** True if a view change has membership work to do in a view of `members`. */
  pending(members: ReadonlySet<ReplicaId>): boolean {
    return this.joins.size > 0 || [...this.removals].some((r) => members.has(r))
  }

  /** A view was installed: its joiners' requests (from the incarnations it admitted) are done. */
  installed(value: ViewValue): void {
    for (const joiner of value.joining) if (this.joins.get(joiner) === value.incarnations[joiner]) this.joins.delete(joiner)
  }
}
