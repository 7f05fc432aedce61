import type { ReplicaId, View } from '@lockstep/interface'
import type { AcceptedValue, Ballot, PromiseMessage, ViewValue } from '../peer-messages'
import { ballotAbove, sameBallot } from './ballot'
import { majorityOf } from './quorum'
import type { MembershipRequests } from '../membership-requests'

/** A view change this replica coordinates: phase 1 collects promises, phase 2 acceptances of the value. */
export class Coordination {
  readonly view: number
  readonly ballot: Ballot
  /** When it started: the next coordinator's turn is counted from here. */
  readonly startedAt: number
  /** The acceptors: a majority of them decides. */
  readonly configuration: readonly ReplicaId[]
  readonly promises = new Map<ReplicaId, PromiseMessage>()
  readonly accepts = new Set<ReplicaId>()
  /** The value proposed in phase 2, once a majority promised. */
  value: ViewValue | undefined

  constructor(view: number, ballot: Ballot, startedAt: number, configuration: readonly ReplicaId[]) {
    this.view = view
    this.ballot = ballot
    this.startedAt = startedAt
    this.configuration = configuration
  }

  /** True if a message about (`view`, `ballot`) belongs to this view change. */
  isFor(view: number, ballot: Ballot): boolean {
    return this.view === view && sameBallot(ballot, this.ballot)
  }
}

/** Paxos's rule for phase 2: a value some promiser accepted must be proposed again (the one of the highest ballot). */
export function highestAccepted(promises: Iterable<PromiseMessage>): AcceptedValue | null {
  let best: AcceptedValue | null = null
  for (const promise of promises) if (promise.accepted && (!best || ballotAbove(promise.accepted.ballot, best.ballot))) best = promise.accepted
  return best
}

/** What a coordinator knows when it proposes the next view after a live one. */
export interface NextViewInputs {
  readonly current: View
  readonly configuration: readonly ReplicaId[]
  /** The promises of a majority of the configuration, by replica. */
  readonly promises: ReadonlyMap<ReplicaId, PromiseMessage>
  /** Replicas an operator asked to remove (they leave the view and the configuration). */
  readonly removals: ReadonlySet<ReplicaId>
  /** The ending view's record of operators' changes (`ViewValue.changes`): the replicas it names as removed stay out unless admitted. */
  readonly changes?: Readonly<Record<ReplicaId, number>>
  /** The newest view an operator's command about each replica was issued in, of those the coordinator took: recorded in `changes` too. */
  readonly commandViews?: ReadonlyMap<ReplicaId, number>
  /** Replicas an operator admitted (they join the configuration). */
  readonly admissions: ReadonlySet<ReplicaId>
  /** Replicas asking to join, with the incarnation they asked with. */
  readonly joinRequests: ReadonlyMap<ReplicaId, number>
  /** The incarnation each replica was admitted with, as far as the coordinator knows. */
  readonly admitted?: ReadonlyMap<ReplicaId, number>
  /** The orderer's merge of the live members' reports: the agreed end of the current view. */
  readonly boundary: unknown
  /** The coordinator: of two members that cannot hear each other, it stays (see `unheardMembers`). */
  readonly coordinator?: ReplicaId
  /**
   * What the members that did not promise last reported they do not hear (their heartbeats, as the coordinator
   * got them): a replica asking to join that one of them does not hear waits too.
   */
  readonly reports?: ReadonlyMap<ReplicaId, readonly ReplicaId[]>
}

/**
 * The next view after a live one: members an operator removed, members that did not promise and that a majority
 * of the live promisers suspect, and members some live promiser that stays has not heard from (`unheardMembers`)
 * leave; replicas that asked to join come in and take their state by transfer, once every live promiser that stays
 * hears them. The configuration changes only by the operator's removals and admissions.
 */
export function proposeNextView(inputs: NextViewInputs): ViewValue {
  const live = [...inputs.promises.values()].filter((p) => p.holding.kind === 'live')
  const suspectedByMajority = (m: ReplicaId) => !inputs.promises.has(m) && live.filter((p) => p.suspects.includes(m)).length >= majorityOf(live.length)
  // Removed by an operator and not admitted since: by a command the coordinator heard, or by an earlier view.
  const outside = new Set([...inputs.removals, ...removedByOperator(inputs.changes, inputs.configuration).filter((r) => !inputs.admissions.has(r))])
  const candidates = inputs.current.members.filter((m) => !outside.has(m) && !suspectedByMajority(m))
  // Members that cannot all hear each other leave only when what stays, all hearing each other, is a majority of
  // the configuration: where everyone misses everyone (a slow network, a delay spike), no view would hear itself,
  // and leaving members out only loses the copies of the state they hold. Found: a delay spike while a cluster of
  // three formed made each replica miss the others, and the view kept one member, whose crash then lost the state.
  const unheard = unheardMembers(candidates, inputs.promises, inputs.coordinator)
  const leaveOut = candidates.length - unheard.length >= majorityOf(inputs.configuration.length) ? unheard : []
  const removed = inputs.current.members.filter((m) => outside.has(m) || suspectedByMajority(m) || leaveOut.includes(m))
  // A member that promised with its live state is not joining, whatever a late join request says; any other
  // replica that asked (or promised without the view's state) joins and takes the state by transfer, unless a
  // member that stays does not hear it, by its promise (a live promiser) or by its last report (one that did not
  // promise): it would stall the new view's order, so it waits until it is heard.
  // (A member asking to join again, having lost its state, is no such replica: it is in the view already, and its
  // last report, from before, counts for nothing.)
  const reportsOf = (member: ReplicaId) => {
    const promise = inputs.promises.get(member)
    if (!promise) return inputs.reports?.get(member) ?? []
    return promise.holding.kind === 'live' ? promise.suspects : []
  }
  const asking = [...inputs.joinRequests.keys()].filter((r) => !outside.has(r) && (!inputs.current.members.includes(r) || removed.includes(r) || inputs.promises.get(r)?.holding.kind !== 'live'))
  const staying = inputs.current.members.filter((m) => !removed.includes(m) && !asking.includes(m))
  const entering = (r: ReplicaId) => !inputs.current.members.includes(r) || removed.includes(r)
  const joining = asking.filter((r) => !entering(r) || !staying.some((m) => m !== r && reportsOf(m).includes(r))).sort()
  const incarnations = Object.fromEntries(joining.map((r) => [r, inputs.joinRequests.get(r)!]))
  const members = [...new Set([...inputs.current.members.filter((m) => !removed.includes(m)), ...joining])].sort()
  const configuration = [...new Set([...inputs.configuration, ...inputs.admissions])].filter((r) => !outside.has(r)).sort()
  // The members carried on, with the incarnation they were admitted with (a live promiser's is its own run's): a
  // replica entering by this view learns them. Found: a join that a since-admitted replica sent while it waited
  // outside reached a replica only after that replica entered a later view; with no admitted incarnation on record
  // it took the join for a new one and changed the view for nothing (realtime-simulator seed 5).
  const admitted: Record<ReplicaId, number> = {}
  for (const member of members) {
    if (joining.includes(member)) continue
    const promise = inputs.promises.get(member)
    const known = Math.max(inputs.admitted?.get(member) ?? -Infinity, promise?.holding.kind === 'live' ? promise.incarnation : -Infinity)
    if (Number.isFinite(known)) admitted[member] = known
  }
  const id = inputs.current.id + 1
  const value: ViewValue = { view: { id, members }, configuration, joining, incarnations, boundary: inputs.boundary }
  // The configuration changes only by operators' commands: each replica it gains or loses here is one carried out in this view.
  // And each command the coordinator took is recorded with the view it was issued in, so that a replica still
  // holding an older command about the same replica (one the later command never reached) drops it on learning of
  // this view: an admission that changed nothing (the replica was still in the configuration) overtakes a removal
  // held by a partition.
  const changes: Record<ReplicaId, number> = { ...inputs.changes }
  for (const [replica, view] of inputs.commandViews ?? []) changes[replica] = Math.max(view, changes[replica] ?? -Infinity)
  for (const replica of new Set([...inputs.configuration, ...configuration])) if (inputs.configuration.includes(replica) !== configuration.includes(replica)) changes[replica] = id
  return withChanges(Object.keys(admitted).length > 0 ? { ...value, admitted } : value, changes)
}

/**
 * The members to leave out of the next view so that every live promiser kept hears every member kept: each
 * orderer waits for every member, so two members that cannot hear each other (a link cut, one way or both, while
 * both reach the rest) stop the order of any view that holds both. One at a time, the member the most kept live
 * promisers report unheard leaves (of equals, one that did not promise with its live state, then not the
 * coordinator, then the last by name), until no kept live promiser reports a kept member. The one that reports
 * stays, so at least one live promiser always does. Found by the simulator's `cut` fault: views kept both ends of
 * a cut link, and changed every 10 to 15 ms until the link healed.
 */
export function unheardMembers(members: readonly ReplicaId[], promises: ReadonlyMap<ReplicaId, PromiseMessage>, coordinator?: ReplicaId): ReplicaId[] {
  const kept = [...members].sort()
  const removed: ReplicaId[] = []
  for (;;) {
    const listeners = kept.filter((p) => promises.get(p)?.holding.kind === 'live')
    // Ranked by how many listeners do not hear it, then not a listener, then not the coordinator, then by name
    // (`kept` is sorted, so the last of equals wins).
    const rank = (m: ReplicaId) => listeners.filter((p) => p !== m && promises.get(p)!.suspects.includes(m)).length * 4 + (listeners.includes(m) ? 0 : 2) + (m === coordinator ? 0 : 1)
    let worst: ReplicaId | undefined
    let worstRank = 4 // the least rank of a member some listener does not hear: one all hear never leaves
    for (const m of kept) {
      const r = rank(m)
      if (r >= worstRank) [worst, worstRank] = [m, r]
    }
    if (worst === undefined) return removed
    kept.splice(kept.indexOf(worst), 1)
    removed.push(worst)
  }
}

/** The replicas a view's record of operators' changes names and its configuration lacks: removed by an operator, not admitted since. */
export function removedByOperator(changes: Readonly<Record<ReplicaId, number>> | undefined, configuration: readonly ReplicaId[]): ReplicaId[] {
  return Object.keys(changes ?? {}).filter((replica) => !configuration.includes(replica)).sort()
}

/** `value` with its record of operators' changes (none: no field, as earlier versions wrote it). */
function withChanges(value: ViewValue, changes: Readonly<Record<ReplicaId, number>> | undefined): ViewValue {
  return changes && Object.keys(changes).length > 0 ? { ...value, changes } : value
}

/**
 * The view that resumes a cluster none of whose promisers holds a live view (they all restarted from their
 * disks): its members are the promisers; its state comes from the one whose disk holds the newest view and,
 * in it, the most of the order (ties to the lowest id); every other member takes it by transfer. Undefined
 * until a majority of the configuration reported a disk: replies wait for a majority of disks, so any
 * majority holds every acknowledged request.
 *
 * A damaged disk (one that lost some requests' contents, see `readDamagedDisk`) counts toward that majority
 * with how far it held the order, but the state never comes from it: only from an intact disk at least as far
 * in view and position as every damaged one reported, or else (an acknowledged request may sit only on the
 * damaged disks) undefined, to wait for more replicas.
 */
export function recoveryValue(view: number, configuration: readonly ReplicaId[], promises: ReadonlyMap<ReplicaId, PromiseMessage>, changes?: Readonly<Record<ReplicaId, number>>): ViewValue | undefined {
  let source: { replica: ReplicaId; view: number; position: number } | undefined
  let furthestDamaged: { view: number; position: number } | undefined
  let disks = 0
  for (const [replica, promise] of promises) {
    const holding = promise.holding
    if (holding.kind !== 'disk') continue
    disks++
    if (holding.damaged) {
      furthestDamaged = { view: Math.max(furthestDamaged?.view ?? 0, holding.view.id), position: Math.max(furthestDamaged?.position ?? 0, holding.position) }
      continue
    }
    const better = !source || holding.view.id > source.view || (holding.view.id === source.view && (holding.position > source.position || (holding.position === source.position && replica < source.replica)))
    if (better) source = { replica, view: holding.view.id, position: holding.position }
  }
  if (!source || disks < majorityOf(configuration.length)) return undefined
  if (furthestDamaged && (furthestDamaged.view > source.view || furthestDamaged.position > source.position)) return undefined
  const members = [...promises.keys()].sort()
  const incarnations = Object.fromEntries([...promises].map(([replica, promise]) => [replica, promise.incarnation]))
  return withChanges({ view: { id: view, members }, configuration: [...configuration], joining: members.filter((m) => m !== source.replica), incarnations, boundary: undefined, source: source.replica }, changes)
}

/**
 * Coordinators take turns, so they do not duel: the candidates are ranked by id; the one ranked r starts r
 * timeouts after the need arose, and after any sign of another coordinator's progress it waits r + 1
 * timeouts again. Returns when this replica's turn is due, or undefined when it is not a candidate.
 */
export function coordinatorTurnDue(turn: {
  readonly self: ReplicaId
  /** The replicas that may coordinate now, in rank order. */
  readonly candidates: readonly ReplicaId[]
  /** When a view change was first found needed. */
  readonly needSince: number
  /** The last sign of a coordinator at work (this one's start, or another's prepare or accept). */
  readonly lastActivity: number
  readonly timeoutMs: number
}): number | undefined {
  const rank = turn.candidates.indexOf(turn.self)
  if (rank < 0) return undefined
  return turn.lastActivity >= turn.needSince ? turn.lastActivity + (rank + 1) * turn.timeoutMs : turn.needSince + rank * turn.timeoutMs
}

/**
 * The value a coordinator proposes for view `view` when no promiser accepted one: after a live view, the next
 * one (`proposeNextView`, every promiser without the view's state joining); when no promiser is live (the whole
 * cluster restarted), the view that resumes it from a majority's disks (`recoveryValue`), or undefined to wait.
 */
export function proposeValue(inputs: {
  readonly view: number
  readonly current: View
  readonly configuration: readonly ReplicaId[]
  /** The ending view's record of operators' changes (`ViewValue.changes`). */
  readonly changes: Readonly<Record<ReplicaId, number>> | undefined
  readonly promises: ReadonlyMap<ReplicaId, PromiseMessage>
  readonly asks: MembershipRequests
  readonly merge: (reports: readonly unknown[]) => unknown
  /** The coordinator (see `NextViewInputs.coordinator`). */
  readonly coordinator?: ReplicaId
  /** See `NextViewInputs.reports`. */
  readonly reports?: ReadonlyMap<ReplicaId, readonly ReplicaId[]>
}): ViewValue | undefined {
  const promises = [...inputs.promises.values()]
  if (!promises.some((p) => p.holding.kind === 'live')) return recoveryValue(inputs.view, inputs.configuration, inputs.promises, inputs.changes)
  const boundary = inputs.merge(promises.flatMap((p) => (p.holding.kind === 'live' ? [p.holding.report] : [])))
  const joinRequests = new Map(inputs.asks.joins)
  for (const [replica, promise] of inputs.promises) if (promise.holding.kind !== 'live') joinRequests.set(replica, promise.incarnation)
  const { removals, admissions } = inputs.asks
  return proposeNextView({ current: inputs.current, configuration: inputs.configuration, promises: inputs.promises, removals, changes: inputs.changes, commandViews: inputs.asks.commandViews, admissions, joinRequests, admitted: inputs.asks.admitted, boundary, ...(inputs.coordinator !== undefined && { coordinator: inputs.coordinator }), ...(inputs.reports && { reports: inputs.reports }) })
}
