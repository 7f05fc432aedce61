import type { ClientId, Logger, OrdererFactory, ReplicaId, ReplicaToClient, Request, StateMachine, View, Clock } from '@lockstep/interface'
import type { OrderDigestVersion } from './digest'
import type { PeerMessage, ViewValue } from './peer-messages'
import type { AcceptorState } from './view-change/acceptor'
import type { SessionLimits } from './session-table'
import type { LazyImage, StateImage } from './state-image'
import type { OutputSigner } from './output-evidence'
import type { RecentOrder } from './state-transfer'

/** Where the engine's effects go. The host turns them into I/O; tests record them. */
export interface EngineEffects {
  /** Send to another replica (reliable FIFO link). */
  sendToPeer(to: ReplicaId, message: PeerMessage): void
  /** Send to a client (dropped if the client is not connected to this replica). */
  sendToClient(to: ClientId, message: ReplicaToClient): void
  /**
   * A request was delivered at `position` (1-based) of the total order; `executed` is false for a duplicate;
   * `time` is the agreed time there (`ApplyContext.time`).
   */
  delivered?(position: number, request: Request, executed: boolean, time: number): void
  /** A view was installed here, with the configured replicas from then on (its disk record needs both). */
  viewInstalled?(view: View, position: number, configuration: readonly ReplicaId[], commit?: ViewValue): void
  /**
   * The replica's votes in view changes changed. A durable host writes them before the messages that follow
   * (the promise or acceptance), so a replica restarted from its disk never forgets a vote.
   */
  persistVotes?(votes: AcceptorState): void
  /**
   * The replica took the cluster's state up to `position`, the whole state (`wholeState`, replacing its own) or
   * the order after its own; `sources`: the replicas that served or confirmed a whole state (none for the order
   * after its own, which it executed itself): a durable host writes a snapshot.
   */
  stateReplaced?(position: number, wholeState: boolean, sources: readonly ReplicaId[]): void
}

/** What a replica needs to resume besides the replicated state: its view, configuration and votes. */
export interface EngineResume {
  readonly view: View
  /** The configured replicas when it was taken (absent in snapshots of earlier versions). */
  readonly configuration?: readonly ReplicaId[]
  /** The replica's votes in view changes (absent when it has none). */
  readonly votes?: AcceptorState
  /** The value that installed `view` (absent in snapshots of earlier versions). */
  readonly commit?: ViewValue
  /**
   * The last requests of the order before the state (absent when none were kept, and in snapshots of earlier
   * versions): restored with it, so the replica can serve a replica a little behind the order after its own
   * state rather than its whole state (see `StateTransfer.recentOrder`).
   */
  readonly recent?: RecentOrder
}

/** Everything a replica needs to resume, as written to a snapshot and read back. */
export interface EngineSnapshot extends EngineResume, StateImage {}

/**
 * Everything a replica needs to resume, captured at an instant (see `ReplicaEngine.lazySnapshot`): the
 * engine's part copied, the replicated state a `LazyImage` whose bytes are produced later.
 */
export interface LazySnapshot {
  /** The position of the replicated state it holds. */
  readonly position: number
  readonly resume: EngineResume
  readonly image: LazyImage
}

/** A record of a disk's log replayed by `recover`: a delivered request, a view installed, or the replica's votes. */
export type RecoveredEntry =
  /**
   * `at`: its position in the order (absent in logs of earlier versions). `dv`: the order digest's version the
   * replica extended its chain with at this delivery (see `OrderDigestVersion`), written when it is not 1 (absent
   * in logs of earlier versions, which knew only 1): a log replayed from position 0 continues that version.
   */
  | { readonly request: Request; readonly at?: number; readonly dv?: number }
  | { readonly view: View; readonly configuration?: readonly ReplicaId[]; readonly commit?: ViewValue }
  | { readonly votes: AcceptorState }

/** Failure detection and view changes. */
export interface MembershipOptions {
  /** A replica writes to each member at least this often. Default 50 ms. */
  readonly heartbeatMs?: number
  /** A member silent this long is suspected. Default 300 ms (six heartbeats). */
  readonly suspectAfterMs?: number
  /** A view change not finished after this long is taken over by the next coordinator. Default 1000 ms. */
  readonly viewChangeTimeoutMs?: number
}

/**
 * The defaults of {@link MembershipOptions}: a silent replica is suspected after 300 ms, so on a local network a
 * cluster goes on without a stopped replica within about a third of a second.
 */
export const DEFAULT_MEMBERSHIP: Required<MembershipOptions> = { heartbeatMs: 50, suspectAfterMs: 300, viewChangeTimeoutMs: 1000 }

/** Options of the replica engine. */
export interface EngineOptions<S> {
  readonly self: ReplicaId
  readonly machine: StateMachine<S>
  readonly orderer: OrdererFactory
  readonly clock: Clock
  /** The initial view: every replica of the cluster. */
  readonly view: View
  readonly effects: EngineEffects
  readonly log?: Logger
  /**
   * Failure detection and majority-agreed view changes; needs a crash-tolerant
   * orderer. Without it the engine assumes no replica fails.
   */
  readonly membership?: MembershipOptions
  /**
   * Ask an existing cluster to add this replica (a new replica, or one restarted without its state) instead of
   * starting as `startAs` says.
   */
  readonly join?: boolean
  /**
   * With membership, how the replica starts: `fresh` (the default) without state, starting a new cluster
   * once a majority of the configuration starts fresh too, or else joining the existing one; `member`, as a
   * member of the initial view that has already started (tests and simulations that skip the start).
   */
  readonly startAs?: 'fresh' | 'member'
  /** Every replica configured for the cluster, members of the initial view or spares. Default: the initial view's members. */
  readonly replicas?: readonly ReplicaId[]
  /**
   * Release a reply only once its request is on the disks of a majority of the configuration (the host then
   * reports its own disk's progress with `durableUpTo`). Needs membership. Default false: replies go out on
   * delivery.
   */
  readonly durableReplies?: boolean
  /** Check the engine's invariants after every event and throw on a violation (tests and simulations). Default false. */
  readonly checkInvariants?: boolean
  /** Bounds of the client session table (capacity, expiry in positions); identical on every replica. */
  readonly sessions?: SessionLimits
  /**
   * The order digest version a new history starts with (see `OrderDigestVersion`; default `ORDER_DIGEST_VERSION`).
   * A replica continuing a history (its disk, a peer's state or order) keeps that history's version whatever this
   * says. Set 1 only for a new cluster that replicas of earlier versions, which know only version 1, will join.
   */
  readonly orderDigestVersion?: OrderDigestVersion
  /**
   * State transfer: chunks of at most `chunkBytes` (default 1 MiB, under the transport's frame limit),
   * `window` asked for at once (default 4); a replica behind by at most the last `suffixWindow` requests
   * (default 4096, each kept in memory) catches up with just those instead of the whole state.
   */
  readonly transfer?: { readonly chunkBytes?: number; readonly window?: number; readonly suffixWindow?: number }
  /**
   * Every this many deliveries (at positions that are multiples of it) the replica sends the digest of its state
   * to the members of its view; a replica whose digest differs from a majority's stops serving and rejoins by
   * state transfer (`STATE_DIVERGED`). Give every replica the same value. Default 1000; 0 turns the checks off.
   */
  readonly stateDigestEvery?: number
  /**
   * Signs the digests of the replies this replica executed, when readers ask for their evidence, and serves it (see `OutputSigner`);
   * built by the host from the replica's private key. Default: none (readers asking for evidence are told so).
   */
  readonly outputSigner?: OutputSigner
  /** With `outputSigner`: the evidence of the last this many positions of the order is kept. Default 4096. */
  readonly evidenceWindow?: number
  /**
   * This run's incarnation, named by its joins and promises and by the views that admit it: it must differ from
   * every earlier run of this replica, and should grow from one run to the next (see `newIncarnation`, which
   * `ReplicaHost` uses with a random source). Default: the clock's reading at start, which repeats when the clock
   * is set back or held still across a restart without state.
   */
  readonly incarnation?: number
}

/** Where a replica stands. */
export type EngineStatus =
  /** A member, ordering and executing. */
  | 'normal'
  /** A member that promised a view change: delivers nothing until the next view is installed. */
  | 'frozen'
  /** A member of the current view waiting for the state at its start. */
  | 'transferring'
  /** Not a member: asking to be added. Serves nothing. */
  | 'joining'
  /** Restarted from its disk, waiting for every member of its last view to report (whole-cluster recovery). */
  | 'recovering'

/** A peer's disk that reported holding less of the order than it had reported before: it lost records it had synced. */
export interface DiskLoss {
  readonly replica: ReplicaId
  /** How far the disk holds the order now, by its report. */
  readonly position: number
  /** How far it had reported holding it, and a majority's disks held it. */
  readonly held: number
}
