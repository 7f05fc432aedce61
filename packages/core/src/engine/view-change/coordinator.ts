import type { ReplicaId, View } from '@lockstep/interface'
import type { AcceptedValue, Ballot, PromiseMessage, ViewValue } from '../peer-messages'
import { ballotAbove, sameBallot } from './ballot'

/** A view change this replica coordinates: phase 1 collects promises, phase 2 acceptances of the value. */
export class Coordination {
  readonly view: number
  readonly ballot: Ballot
  /** When it started: the next coordinator's turn is counted from here. */
  readonly startedAt: number
  readonly promises = new Map<ReplicaId, PromiseMessage>()
  readonly accepts = new Set<ReplicaId>()
  /** The value proposed in phase 2, once a majority promised. */
  value: ViewValue | undefined

  constructor(view: number, ballot: Ballot, startedAt: number) {
    this.view = view
    this.ballot = ballot
    this.startedAt = startedAt
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

/** What a coordinator knows when it proposes the next view. */
export interface NextViewInputs {
  readonly current: View
  /** The promises of a majority, by member. */
  readonly promises: ReadonlyMap<ReplicaId, PromiseMessage>
  /** Replicas an operator asked to remove. */
  readonly removals: ReadonlySet<ReplicaId>
  /** Replicas asking to join, with the incarnation they asked with. */
  readonly joinRequests: ReadonlyMap<ReplicaId, number>
  readonly majority: number
  /** The orderer's merge of the promisers' reports: the agreed end of the current view. */
  readonly boundary: unknown
}

/**
 * The next view: members an operator removed, and members a majority of the promisers suspect (and that did
 * not promise themselves), leave; replicas that asked to join come in and take their state by transfer.
 */
export function proposeNextView(inputs: NextViewInputs): ViewValue {
  const promises = [...inputs.promises.values()]
  const suspectedByMajority = (m: ReplicaId) => promises.filter((p) => p.suspects.includes(m)).length >= inputs.majority && !inputs.promises.has(m)
  const removed = inputs.current.members.filter((m) => inputs.removals.has(m) || suspectedByMajority(m))
  const joining = [...inputs.joinRequests.keys()].filter((r) => !inputs.promises.has(r) && !removed.includes(r)).sort()
  const incarnations = Object.fromEntries(joining.map((r) => [r, inputs.joinRequests.get(r)!]))
  const members = [...new Set([...inputs.current.members.filter((m) => !removed.includes(m)), ...joining])].sort()
  return { view: { id: inputs.current.id + 1, members }, joining, incarnations, boundary: inputs.boundary }
}

/**
 * Coordinators take turns, so they do not duel: the members that are neither suspected here nor asking to
 * join are ranked by id; the one ranked r starts r timeouts after the need arose, and after any sign of
 * another coordinator's progress it waits r + 1 timeouts again. Returns when this replica's turn is due,
 * or undefined when it is not a candidate.
 */
export function coordinatorTurnDue(turn: {
  readonly self: ReplicaId
  readonly members: readonly ReplicaId[]
  readonly suspects: readonly ReplicaId[]
  readonly joinRequests: ReadonlyMap<ReplicaId, number>
  /** When a view change was first found needed. */
  readonly needSince: number
  /** The last sign of a coordinator at work (this one's start, or another's prepare or accept). */
  readonly lastActivity: number
  readonly timeoutMs: number
}): number | undefined {
  const candidates = turn.members.filter((m) => m === turn.self || (!turn.suspects.includes(m) && !turn.joinRequests.has(m)))
  const rank = candidates.indexOf(turn.self)
  if (rank < 0) return undefined
  return turn.lastActivity >= turn.needSince ? turn.lastActivity + (rank + 1) * turn.timeoutMs : turn.needSince + rank * turn.timeoutMs
}
