import type { ReplicaId, View } from '@lockstep/interface'

/** A Paxos ballot for one view number: `[round, coordinator]`, ordered by round then id. */
export type Ballot = readonly [round: number, coordinator: ReplicaId]

/** The value a view change agrees on: the next view and the boundary of the old one. */
export interface ViewValue {
  readonly view: View
  /** Replicas of the new view that take their state by transfer (they joined or lost it). */
  readonly joining: readonly ReplicaId[]
  /** The incarnation each joiner asked with: a later incarnation of the same replica is not fooled by an old view. */
  readonly incarnations: Readonly<Record<ReplicaId, number>>
  /** The orderer's agreed boundary of the old view (opaque to the engine). */
  readonly boundary: unknown
}

/** Every replica-to-replica message of the engine. */
export type PeerEnvelope =
  /** An orderer's message in view `v`. */
  | { readonly k: 'o'; readonly v: number; readonly m: unknown }
  /** A heartbeat in view `v`, with the sender's suspicions. */
  | { readonly k: 'hb'; readonly v: number; readonly s: readonly ReplicaId[] }
  /** Phase 1a of the view change to view `v`. */
  | { readonly k: 'prepare'; readonly v: number; readonly b: Ballot }
  /** Phase 1b: a promise, with what the sender holds, its suspicions and any value it accepted. */
  | { readonly k: 'promise'; readonly v: number; readonly b: Ballot; readonly report: unknown; readonly s: readonly ReplicaId[]; readonly accepted: { readonly b: Ballot; readonly value: ViewValue } | null }
  /** A refusal: the sender promised a higher ballot. */
  | { readonly k: 'nack'; readonly v: number; readonly b: Ballot }
  /** Phase 2a. */
  | { readonly k: 'accept'; readonly v: number; readonly b: Ballot; readonly value: ViewValue }
  /** Phase 2b. */
  | { readonly k: 'accepted'; readonly v: number; readonly b: Ballot }
  /** The value of view `v` is chosen: install it. */
  | { readonly k: 'commit'; readonly value: ViewValue }
  /** Asks for the commit of view `v` (the sender saw traffic of a view it does not know). */
  | { readonly k: 'query'; readonly v: number }
  /** Tells a replica that it is not a member of the sender's view. */
  | { readonly k: 'removed'; readonly view: View }
  /** A replica outside the view asks to be added; `n` names this incarnation of it. */
  | { readonly k: 'join'; readonly n: number }
  /** An operator asked to remove replica `r` from the cluster. */
  | { readonly k: 'remove'; readonly r: ReplicaId }
  /** An operator asked to admit replica `r` (a configured spare, or one removed before). */
  | { readonly k: 'admit'; readonly r: ReplicaId }
  /** A replica restarted from its disk: its last view and position, to rebuild the cluster when all are back. */
  | { readonly k: 'recover'; readonly view: View; readonly p: number; readonly n: number; readonly u: readonly ReplicaId[] }
  /** Asks for the state at the start of view `v`. */
  | { readonly k: 'state?'; readonly v: number }
  /** The state at the start of view `v`. */
  | { readonly k: 'state'; readonly v: number; readonly position: number; readonly machine: Uint8Array; readonly sessions: unknown }

/** True if `a` is a higher ballot than `b`. */
export function ballotAbove(a: Ballot, b: Ballot | null): boolean {
  if (!b) return true
  return a[0] > b[0] || (a[0] === b[0] && a[1] > b[1])
}
