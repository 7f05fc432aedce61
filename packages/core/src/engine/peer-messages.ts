import type { ClientId, ReplicaId, Request, View } from '@lockstep/interface'
import type { OrderDigestVersion } from './digest'

/** A Paxos ballot for one view number, ordered by round, then by coordinator id. */
export interface Ballot {
  readonly round: number
  readonly coordinator: ReplicaId
}

/** The value a view change agrees on: the next view and the boundary of the old one. */
export interface ViewValue {
  readonly view: View
  /**
   * The configured replicas from this view on: the acceptors of the next view change, whose majority is its
   * quorum. Changed only by operator commands (remove, admit).
   */
  readonly configuration: readonly ReplicaId[]
  /** Replicas of the new view that take their state by transfer (they joined, or lost their state). */
  readonly joining: readonly ReplicaId[]
  /** The incarnation each joiner asked with: a later incarnation of the same replica is not fooled by an old view. */
  readonly incarnations: Readonly<Record<ReplicaId, number>>
  /**
   * The incarnation each member the view carries on (not a joiner) was admitted with, as far as the coordinator
   * knows: a replica that enters by this view learns them, so a join an admitted run sent while it waited outside,
   * arriving late, is not taken for a new one. Absent when none is known. Unlike `incarnations`, it does not let
   * anyone install the view.
   */
  readonly admitted?: Readonly<Record<ReplicaId, number>>
  /**
   * For each replica an operator removed or admitted, the view whose value carried out the last such change, or the
   * newest view a command about it was issued in if that is later (absent when there is none): a replica named here
   * and not in `configuration` was removed by an operator and is refused
   * until admitted. Every later view passes it on, and the disks keep it with the view, so a replica that restarts, or
   * enters by a later view, refuses as the replicas that heard the command did; and an operator's command issued in an
   * earlier view than the change named here (a late message, or one still waiting somewhere) is stale. Earlier
   * versions ignore it.
   */
  readonly changes?: Readonly<Record<ReplicaId, number>>
  /** The orderer's agreed boundary of the old view (opaque to the engine); absent for a recovery view. */
  readonly boundary: unknown
  /** For a view that resumes a cluster from disks: the member whose state it resumes from (every other member joins). */
  readonly source?: ReplicaId
}

/** A value an acceptor accepted, with the ballot it was accepted in. */
export interface AcceptedValue {
  readonly ballot: Ballot
  readonly value: ViewValue
}

/** An orderer's message, sent in view `view`. */
export interface OrdererMessage {
  readonly kind: 'orderer'
  readonly view: number
  readonly message: unknown
}

/** Liveness and the sender's suspicions, sent on their own schedule to every member of view `view`. */
export interface Heartbeat {
  readonly kind: 'heartbeat'
  readonly view: number
  readonly suspects: readonly ReplicaId[]
  /**
   * On the heartbeats of the initial view from a replica that started it without state: the fresh peers it had
   * heard when it started, with the incarnation of each (its fresh join's `knows`, see `ClusterStart`). A fresh
   * replica named with this run's incarnation starts the initial view too. Earlier versions ignore it.
   */
  readonly started?: Readonly<Record<ReplicaId, number>>
  /**
   * The configured replicas the sender has not heard from for the suspicion time (hearing alone: `suspects` also
   * names members it could not send to, until the next view), when there are any. A replica leaves unanswered the
   * repeated ballots of a coordinator that does not hear it and hears less than a majority (see `Membership`).
   * Earlier versions ignore it.
   */
  readonly silent?: readonly ReplicaId[]
}

/** Paxos phase 1a: a coordinator asks the members of the old view to promise `ballot` for view `view`. */
export interface Prepare {
  readonly kind: 'prepare'
  readonly view: number
  readonly ballot: Ballot
  /**
   * The value chosen for view `view - 1`, the one the change ends, when the coordinator knows it (it must, to
   * coordinate). A promiser keeps it with its votes: promising in view change `view` discards what it accepted
   * in the one before, and that value may have reached no disk as an installed view.
   */
  readonly previous?: ViewValue
}

/**
 * What a promiser holds of the view the change ends:
 * - `live`: it is a member of that view with its state; `report` is its orderer's freeze report (what it
 *   delivered, and the requests it holds undelivered);
 * - `disk`: it restarted from its disk, which holds `view` and the first `position` requests of the order
 *   (`damaged`: the disk held them, but lost some requests' contents: it cannot be the state a cluster
 *   resumes from, yet its position still counts);
 * - `none`: nothing (it joins, or waits for a transfer).
 */
export type Holding =
  | { readonly kind: 'live'; readonly report: unknown }
  | { readonly kind: 'disk'; readonly view: View; readonly position: number; readonly damaged?: true }
  | { readonly kind: 'none' }

/** Paxos phase 1b: the sender promised `ballot`; it says what it holds, whom it suspects, and any value it accepted. */
export interface PromiseMessage {
  readonly kind: 'promise'
  readonly view: number
  readonly ballot: Ballot
  readonly holding: Holding
  readonly suspects: readonly ReplicaId[]
  readonly accepted: AcceptedValue | null
  /** The promiser's incarnation: a view that resumes from its disk names it, so a later restart is not fooled. */
  readonly incarnation: number
}

/**
 * A refusal: the sender promised the higher ballot `ballot` for view `view`, or (`knownView` >= `view`) it
 * knows that view number is taken already.
 */
export interface Nack {
  readonly kind: 'nack'
  readonly view: number
  readonly ballot: Ballot | null
  /** The newest view the sender knows of. */
  readonly knownView: number
}

/** Paxos phase 2a: accept `value` for view `view` in `ballot`. */
export interface Accept {
  readonly kind: 'accept'
  readonly view: number
  readonly ballot: Ballot
  readonly value: ViewValue
  /** As in {@link Prepare}: the value of view `view - 1`, for an acceptor that did not promise first. */
  readonly previous?: ViewValue
}

/** Paxos phase 2b: the sender accepted the value of `ballot`. */
export interface Accepted {
  readonly kind: 'accepted'
  readonly view: number
  readonly ballot: Ballot
}

/** The value of view `value.view.id` is chosen: install it. */
export interface Commit {
  readonly kind: 'commit'
  readonly value: ViewValue
}

/** Asks for the commit of view `view` (the sender saw traffic of a view it does not know). */
export interface ViewQuery {
  readonly kind: 'query'
  readonly view: number
}

/** Tells a replica that it is not a member of the sender's view `view`. */
export interface Removed {
  readonly kind: 'removed'
  readonly view: View
}

/** A replica outside the view asks to be added; `incarnation` names this run of it. */
export interface Join {
  readonly kind: 'join'
  readonly incarnation: number
  /** True if it started without any state and has served nothing yet: a majority of fresh replicas starts a new cluster. */
  readonly fresh: boolean
  /**
   * Sent by earlier versions to let a late fresh member of the initial view start in it; unsafe (that member may
   * have run before and lost what the others count on), so it is ignored: a late member joins by a view change.
   */
  readonly started?: boolean
  /**
   * In a fresh join: the fresh peers its sender heard, with the incarnation of each (see `ClusterStart`). A fresh
   * replica counts a peer toward starting a new cluster only once the peer's fresh join names its own incarnation.
   */
  readonly knows?: Readonly<Record<ReplicaId, number>>
  /**
   * Set by a member that gave up its state while in view `leftView` (its orderer lost its guarantee), or by a run
   * without state that learned view `leftView` names it as a plain member (it restarted with the incarnation of
   * an admitted run, or an older one: a clock held still or set back): though the view names it, it asks to be
   * added back as a joiner, so its ask is not a late message from before it was admitted.
   */
  readonly leftView?: number
}

/** An operator asked to remove `replica` from the cluster. */
export interface Remove {
  readonly kind: 'remove'
  readonly replica: ReplicaId
  /** The view the replica that took the command had installed: a removal issued before the replica's last admission is stale. Absent from earlier versions. */
  readonly view?: number
}

/** An operator asked to admit `replica` (a configured spare, or one removed before). */
export interface Admit {
  readonly kind: 'admit'
  readonly replica: ReplicaId
  /** The view the replica that took the command had installed: an admission issued before the replica's last removal is stale. Absent from earlier versions. */
  readonly view?: number
}

/** A replica restarted from its disk asks to be brought back: its last view and position. */
export interface Recover {
  readonly kind: 'recover'
  readonly view: View
  readonly position: number
  readonly incarnation: number
}

/** A replica's disk holds the order up to `position`: replies wait until a majority's disks hold a request. */
export interface Durable {
  readonly kind: 'durable'
  readonly position: number
  /** The digest of the sender's order up to `position` (with an orderer that rests on timing assumptions). */
  readonly digest?: string
}

/**
 * Asks for the chunk at `offset` of the state at the start of view `view`; or, with `from`, for the part of
 * the order after the asker's own state (its position, and the digest of its order up to there).
 */
export interface StateRequest {
  readonly kind: 'stateRequest'
  readonly view: number
  readonly offset: number
  readonly from?: { readonly position: number; readonly digest: string }
}

/**
 * The requests of the order after position `from` (the asker's), up to at most `target`, the position at the
 * start of view `view`; `digest` is the digest of the order after the last one.
 */
export interface StateSuffix {
  readonly kind: 'stateSuffix'
  readonly view: number
  readonly from: number
  readonly target: number
  readonly digest: string
  readonly requests: readonly Request[]
  /** The version of the source's order digest (see `OrderDigestVersion`), when not 1: an asker at position 0 continues it. */
  readonly digestVersion?: OrderDigestVersion
}

/**
 * A chunk of the state at the start of view `view`: `bytes` at `offset` of an image holding the machine's
 * state and the session table after `position` requests. `end`, once the source has produced the whole
 * image (always with its last chunk, and with any ask past the end, which gets no bytes): its size and the
 * digest of the whole.
 */
export interface StateChunk {
  readonly kind: 'stateChunk'
  readonly view: number
  readonly position: number
  readonly offset: number
  readonly bytes: Uint8Array
  readonly end?: { readonly totalBytes: number; readonly digest: string }
}

/**
 * A replica's signature of its statement that the reply to (`client`, `seq`, `incarnation`), executed at
 * `position`, has digest `digest` (see `OutputEvidence`); the signer is the sender, the cluster the receiver's.
 */
export interface ReplySignature {
  readonly client: ClientId
  readonly seq: number
  readonly incarnation: number
  readonly position: number
  /** SHA-256 of the reply's canonical encoding, 64 lowercase hex digits. */
  readonly digest: string
  /** Ed25519, base64. */
  readonly signature: string
}

/** The sender's signatures of the replies it executed at the positions a `signatureRequest` named. */
export interface ReplySignatures {
  readonly kind: 'replySignatures'
  readonly signatures: readonly ReplySignature[]
}

/** A replica serving a reader asks the others to sign their replies at these positions (answered with `replySignatures`). */
export interface SignatureRequest {
  readonly kind: 'signatureRequest'
  readonly positions: readonly number[]
}

/** The digest of the sender's state after `position` requests (every `stateDigestEvery` deliveries). */
export interface StateDigest {
  readonly kind: 'stateDigest'
  readonly position: number
  readonly digest: string
}

/** Every replica-to-replica message of the engine. */
export type PeerMessage =
  | OrdererMessage
  | Heartbeat
  | Prepare
  | PromiseMessage
  | Nack
  | Accept
  | Accepted
  | Commit
  | ViewQuery
  | Removed
  | Join
  | Remove
  | Admit
  | Recover
  | StateRequest
  | StateChunk
  | StateSuffix
  | Durable
  | ReplySignatures
  | SignatureRequest
  | StateDigest

/** The kinds of peer message. */
export type PeerMessageKind = PeerMessage['kind']

/** The peer message of kind `K`. */
export type PeerMessageOf<K extends PeerMessageKind> = Extract<PeerMessage, { readonly kind: K }>
