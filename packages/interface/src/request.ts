import type { ErrorInfo } from './errors'
import type { ClientId, ReplicaId } from './ids'

/**
 * A client request. `(client, seq)` names it: the engine executes each pair at
 * most once and answers retries from its session table.
 */
export interface Request<C = unknown> {
  readonly client: ClientId
  /** Increases by one for each new request of this client, from 1. */
  readonly seq: number
  readonly command: C
  /**
   * The lowest seq whose reply this client still awaits: every reply below it
   * has been received, so replicas may forget them. Optional; defaults to `seq`.
   */
  readonly ackedBelow?: number
  /**
   * Every output numbered below this has reached the client, so replicas may
   * forget them. Outputs at or above it are kept, and re-sent on request
   * (`{ type: 'outputs', from }`), so a client whose replica crashed still
   * gets them.
   */
  readonly outputsAckedBelow?: number
  /**
   * Which run of the client process sent it (its start time, say). A client that restarts under the same
   * id numbers its requests from 1 again; a higher incarnation tells the replicas to start its session
   * afresh instead of answering from the previous run's replies. Optional; default 0.
   */
  readonly incarnation?: number
  /**
   * When the request entered the cluster: the clock reading (epoch milliseconds) of the replica it was
   * submitted to, set by that replica (whatever a client sent is replaced). Carried with the request in the
   * total order; state machines read the agreed time built from it (`ApplyContext.time`), never this.
   */
  readonly time?: number
  /**
   * Every replica that executes it answers the client: a voting client decides on several answers. Without it,
   * only the replica the client sent it to answers (the others execute it silently), and a client that hears
   * nothing (that replica failed) retries at another, which answers from its session table.
   */
  readonly replyFromAll?: boolean
}

/** An output value addressed to a client, numbered per client (from 1) in the order the cluster produced them. */
export interface NumberedOutput<O = unknown> {
  /** Per-client output number: a client uses it to drop duplicates and find gaps. */
  readonly outputSeq: number
  readonly value: O
}

/** The answer to one request, sent to its client once the request executed. */
export type Reply<O = unknown> =
  | {
      readonly client: ClientId
      readonly seq: number
      readonly ok: true
      /** Outputs this request addressed to its own client. */
      readonly outputs: readonly NumberedOutput<O>[]
      /** Position in the total order at which it executed. */
      readonly position: number
      /** Outputs numbered below this belong to an earlier incarnation of the client: it may skip them. */
      readonly outputsFrom?: number
      /** The incarnation of the client that sent the request: a client ignores replies meant for another run of its id. */
      readonly incarnation?: number
    }
  | {
      readonly client: ClientId
      readonly seq: number
      readonly ok: false
      readonly error: ErrorInfo
      /** Position in the total order, when the request was ordered (absent when it was rejected before ordering). */
      readonly position?: number
      /** The incarnation of the client that sent the request: a client ignores replies meant for another run of its id. */
      readonly incarnation?: number
    }

/**
 * An output produced by another request (or by an earlier one of the same
 * client) and addressed to this client: the queued `acquire` that is granted
 * when someone releases.
 */
export interface OutputNotice<O = unknown> extends NumberedOutput<O> {
  readonly to: ClientId
  /** The request whose execution produced it. */
  readonly cause: { readonly client: ClientId; readonly seq: number }
  readonly position: number
  /** The incarnation of the addressed client when the output was produced: a later run of its id ignores it. */
  readonly incarnation?: number
}

/**
 * Messages from a client to a replica: a request, a request to re-send the outputs numbered `from` on, or (any
 * client, an external reader) a request for the evidence of a request's reply: the reply and the replicas'
 * signed digests of it (see {@link EvidenceAnswer}).
 */
export type ClientToReplica =
  | { readonly type: 'request'; readonly request: Request }
  | { readonly type: 'outputs'; readonly from: number }
  | { readonly type: 'evidence'; readonly client: ClientId; readonly seq: number; readonly incarnation?: number }

/**
 * A replica's signed statement that the reply to a request (`client`, `seq`, `incarnation`), executed at `position`,
 * has digest `digest` (SHA-256 of its canonical encoding, hex); `signature` is the replica's Ed25519 signature
 * (base64). The shape `@lockstep/voting`'s `verifyEvidence` checks.
 */
export interface SignedReplyStatement {
  readonly statement: {
    readonly clusterId: string
    readonly replicaId: string
    readonly client: ClientId
    readonly seq: number
    readonly incarnation: number
    readonly position: number
    readonly digest: string
  }
  readonly signature: string
}

/**
 * A replica's answer to `{ type: 'evidence' }`: `ok` with the reply it executed and every signed statement it holds
 * that matches its own (at least t+1, its own included); `pending` when it has fewer yet (ask again); `unavailable`
 * when it does not hold the request's evidence (never executed here, too old, no signing key, or not serving).
 */
export type EvidenceAnswer =
  | {
      readonly status: 'ok'
      readonly client: ClientId
      readonly seq: number
      readonly incarnation: number
      readonly evidence: { readonly value: Reply; readonly statements: readonly SignedReplyStatement[] }
    }
  | { readonly status: 'pending' | 'unavailable'; readonly client: ClientId; readonly seq: number; readonly incarnation: number; readonly reason: string }

/**
 * The replicas a cluster is configured with (the members whose majority decides), as of a view: sent with replies
 * so that a client prefers them to the other replicas of its list (machines replaced since, spares not admitted),
 * which may never answer. The higher `view` is the newer configuration.
 */
export interface ClientConfiguration {
  readonly view: number
  readonly replicas: readonly ReplicaId[]
}

/** Messages from a replica to a client. */
export type ReplicaToClient =
  | { readonly type: 'reply'; readonly from: string; readonly reply: Reply; readonly configuration?: ClientConfiguration }
  | { readonly type: 'output'; readonly from: string; readonly output: OutputNotice }
  | { readonly type: 'evidence'; readonly from: string; readonly answer: EvidenceAnswer }
  /**
   * The answer to `{ type: 'outputs', from }` when the replica has nothing to re-send: it serves, and holds no output
   * for this client numbered `since` (the `from` asked) or above. A client that waits for a notice keeps asking a
   * replica that answers, and moves on from one that stays silent (crashed, cut off, not serving).
   */
  | { readonly type: 'no-outputs'; readonly from: string; readonly since: number }
