import {
  ErrorCodes,
  LockstepError,
  isCrashTolerant,
  isLockstepError,
  silentLogger,
  type ClientId,
  type Clock,
  type CrashTolerantOrderer,
  type ErrorInfo,
  type Logger,
  type NumberedOutput,
  type Orderer,
  type OrdererContext,
  type OrdererFactory,
  type ReplicaId,
  type ReplicaToClient,
  type Reply,
  type Request,
  type StateMachine,
  type View,
} from '@lockstep/interface'
import { createCommandValidator, type CommandValidator } from './command-validator'
import { fnv1a64 } from './digest'
import { parseClientMessage } from './messages'
import { SessionTable } from './session-table'
import { ballotAbove, type Ballot, type PeerEnvelope, type ViewValue } from './view-messages'

/** Where the engine's effects go. The host turns them into I/O; tests record them. */
export interface EngineEffects {
  /** Send to another replica (reliable FIFO link). */
  sendToPeer(to: ReplicaId, message: PeerEnvelope): void
  /** Send to a client (dropped if the client is not connected to this replica). */
  sendToClient(to: ClientId, message: ReplicaToClient): void
  /** A request was delivered at `position` (1-based) of the total order; `executed` is false for a duplicate. */
  delivered?(position: number, request: Request, executed: boolean): void
  /** A view was installed here. */
  viewInstalled?(view: View, position: number): void
  /** The state was replaced by a transfer (or a recovery) at `position`: a durable host writes a snapshot. */
  stateReplaced?(position: number): void
}

/** Everything a replica needs to resume: written to snapshots, sent in state transfers. */
export interface EngineSnapshot {
  readonly view: View
  readonly position: number
  readonly machine: Uint8Array
  readonly sessions: unknown
}

/** Failure detection and view changes. */
export interface MembershipOptions {
  /** A replica writes to each member at least this often. Default 50 ms. */
  readonly heartbeatMs?: number
  /** A member silent this long is suspected. Default 500 ms. */
  readonly suspectAfterMs?: number
  /** A view change not finished after this long is taken over by the next coordinator. Default 1000 ms. */
  readonly viewChangeTimeoutMs?: number
}

/** Options of {@link ReplicaEngine}. */
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
  /** Start with no state, outside the view, and ask to join (a new replica, or one restarted without its state). */
  readonly join?: boolean
  /** Every replica configured for the cluster, members of the initial view or spares. Default: the initial view's members. */
  readonly replicas?: readonly ReplicaId[]
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

interface Coordination {
  readonly v: number
  readonly b: Ballot
  readonly startedAt: number
  readonly promises: Map<ReplicaId, Extract<PeerEnvelope, { k: 'promise' }>>
  readonly accepts: Set<ReplicaId>
  value: ViewValue | undefined
}

interface BoundaryState {
  readonly v: number
  readonly position: number
  readonly machine: Uint8Array
  readonly sessions: unknown
}

/**
 * The deterministic replica engine: events in (client requests, peer messages,
 * ticks), effects out (sends, replies, deliveries). It reads time only through
 * the injected clock and does no I/O, so the same engine runs in the simulator
 * and behind TCP.
 *
 * With `membership`, it also detects failures and runs majority-agreed view
 * changes (single-decree Paxos per view number, the value being the next
 * membership plus the orderer's agreed boundary of the old view), and brings
 * joining replicas up to date by state transfer.
 */
export class ReplicaEngine<S = unknown> {
  readonly self: ReplicaId
  readonly machine: StateMachine<S>
  private state: S
  private readonly orderer: Orderer
  private readonly sessions = new SessionTable()
  private readonly validator: CommandValidator
  private readonly effects: EngineEffects
  private readonly log: Logger
  private readonly clock: Clock
  private currentView: View
  private members: Set<ReplicaId>
  /** Every configured replica: where join requests go, and who may ask to join. */
  private readonly universe: Set<ReplicaId>
  /** Replicas an operator removed: their requests to join are refused until an operator admits them again. */
  private readonly removals = new Set<ReplicaId>()
  private currentStatus: EngineStatus
  /** Requests submitted here and not yet delivered: a retry of one is not ordered twice. */
  private inFlight = new Set<string>()
  private deliveredCount = 0
  private executedCount = 0

  // Membership (all unused without options.membership).
  private readonly membership: Required<MembershipOptions> | undefined
  private readonly lastHeard = new Map<ReplicaId, number>()
  private readonly lastHeartbeat = new Map<ReplicaId, number>()
  private readonly peerSuspects = new Map<ReplicaId, readonly ReplicaId[]>()
  /** Peers the host could not send to, suspected until the next view. */
  private readonly unreachable = new Set<ReplicaId>()
  /** Replicas asking to join, with the incarnation they asked with. */
  private readonly joinRequests = new Map<ReplicaId, number>()
  /** This process's incarnation (its start time): joins and the views that admit them carry it. */
  private readonly incarnation: number
  private promised: Ballot | null = null
  private accepted: { b: Ballot; value: ViewValue } | null = null
  private frozenReport: unknown = undefined
  private coordination: Coordination | undefined
  private highestRound = 0
  private needSince: number | undefined
  /** When this replica last saw another coordinator at work (a prepare or an accept). */
  private lastViewChangeSeen = -Infinity
  private lastCommit: ViewValue | undefined
  private boundaryState: BoundaryState | undefined
  private heldSubmissions: Request[] = []
  private heldDeliveries: Request[] = []
  private readonly futureMessages: { from: ReplicaId; env: Extract<PeerEnvelope, { k: 'o' }> }[] = []
  private lastJoinAttempt = -Infinity
  /** Whole-cluster recovery: the last view and position each recovering replica reported. */
  private readonly recoveryReports = new Map<ReplicaId, { view: View; p: number }>()
  /** Requests executed by `replay` do not answer clients (they were answered before the restart, or will be on retry). */
  private replaying = false
  private readonly selfQueue: PeerEnvelope[] = []
  private draining = false

  constructor(options: EngineOptions<S>) {
    this.self = options.self
    this.machine = options.machine
    this.state = options.machine.init()
    this.effects = options.effects
    this.log = options.log ?? silentLogger
    this.clock = options.clock
    this.currentView = { id: options.view.id, members: [...options.view.members].sort() }
    this.members = new Set(this.currentView.members)
    this.universe = new Set([...(options.replicas ?? []), ...this.currentView.members, this.self])
    if (!this.members.has(this.self) && !options.join) {
      throw new LockstepError(ErrorCodes.INVALID_CONFIG, `replica '${this.self}' is not a member of its initial view (${options.view.members.join(', ')}); start it with join: true to add it`)
    }
    this.currentStatus = options.join ? 'joining' : 'normal'
    this.incarnation = options.clock.now()
    this.validator = createCommandValidator(options.machine.name, options.machine.commandSchema)
    const ctx: OrdererContext = {
      clock: options.clock,
      self: this.self,
      log: this.log,
      view: () => this.currentView,
      send: (to, message) => this.sendPeer(to, { k: 'o', v: this.currentView.id, m: message }),
      broadcast: (message) => {
        const envelope: PeerEnvelope = { k: 'o', v: this.currentView.id, m: message }
        for (const member of this.currentView.members) if (member !== this.self) this.sendPeer(member, envelope)
      },
      deliver: (request) => this.deliver(request),
    }
    this.orderer = options.orderer(ctx)
    if (options.membership) {
      if (!isCrashTolerant(this.orderer)) {
        throw new LockstepError(ErrorCodes.INVALID_CONFIG, `orderer '${this.orderer.name}' does not support view changes, so it cannot be used with membership (failure detection)`)
      }
      this.membership = { heartbeatMs: 50, suspectAfterMs: 500, viewChangeTimeoutMs: 1000, ...options.membership }
      const now = this.clock.now()
      for (const member of this.currentView.members) this.lastHeard.set(member, now)
    } else if (options.join) {
      throw new LockstepError(ErrorCodes.INVALID_CONFIG, `replica '${this.self}': join needs membership options (failure detection and view changes)`)
    }
  }

  // ---------------------------------------------------------------- clients

  /** A message from a client. Bad messages are logged and dropped; bad commands get an error reply. */
  onClientMessage(client: ClientId, message: unknown): void {
    let parsed
    try {
      parsed = parseClientMessage(client, message)
    } catch (error) {
      this.log.warn(`dropped a message from client '${client}': ${(error as Error).message}`)
      return
    }
    if (parsed.type === 'outputs') {
      if (this.currentStatus !== 'normal') return
      for (const output of this.sessions.outputsFrom(client, parsed.from)) this.effects.sendToClient(client, { type: 'output', from: this.self, output })
      return
    }
    this.submit(parsed.request)
  }

  /** A request entering at this replica (already shape-checked). */
  submit(request: Request): void {
    if (this.currentStatus === 'joining' || this.currentStatus === 'recovering') return // the client retries elsewhere
    if (this.currentStatus !== 'normal') {
      if (this.heldSubmissions.length < 100_000) this.heldSubmissions.push(request)
      return
    }
    const known = this.sessions.lookup(request.client, request.seq, request.incarnation)
    if (known.kind === 'executed') {
      this.replyTo(request.client, known.reply)
      return
    }
    if (known.kind === 'expired') {
      this.replyError(request, {
        code: ErrorCodes.SESSION_EXPIRED,
        message: `request ${request.client}#${request.seq} is older than what client '${request.client}' acknowledged; its reply was forgotten`,
      })
      return
    }
    const key = requestKey(request)
    if (this.inFlight.has(key)) return // a retry of a request being ordered: the reply comes when it is delivered
    const invalid = this.validator.validate(request.command)
    if (invalid) {
      this.replyError(request, invalid.toInfo())
      return
    }
    this.inFlight.add(key)
    this.orderer.submit(request)
  }

  // ------------------------------------------------------------------ peers

  /** A message from another replica. Unknown peers and malformed messages are logged and dropped. */
  onPeerMessage(from: ReplicaId, message: unknown): void {
    if (typeof message !== 'object' || message === null || typeof (message as { k?: unknown }).k !== 'string') {
      this.log.warn(`dropped a malformed message from replica '${from}': unknown envelope`)
      return
    }
    if (!this.universe.has(from) && !this.membership) {
      this.log.warn(`dropped a message from '${from}': not a member of view ${this.currentView.id}`)
      return
    }
    try {
      this.handlePeer(from, message as PeerEnvelope)
      this.drainSelf()
    } catch (error) {
      if (!isLockstepError(error)) throw error
      this.log.warn(`dropped a message from replica '${from}': ${error.message}`, { code: error.code })
    }
  }

  /** Time passed: heartbeats, failure detection, view changes. */
  tick(): void {
    if (this.membership) this.tickMembership()
    if (this.currentStatus === 'normal' || this.currentStatus === 'transferring') this.orderer.tick()
    this.drainSelf()
  }

  /** The end of a burst of events: the orderer sends what it batched. */
  flush(): void {
    if (this.currentStatus === 'normal' || this.currentStatus === 'transferring') this.orderer.flush()
  }

  /** A snapshot of everything needed to resume here (for durable storage). */
  snapshotData(): EngineSnapshot {
    return { view: this.currentView, position: this.deliveredCount, machine: this.machine.snapshot(this.state), sessions: this.sessions.toJSON() }
  }

  /**
   * Restarts from a disk: restores `snapshot`, then replays the requests delivered after it (`log`, in
   * order, with the views installed on the way). The replica then waits, in status `recovering`, either
   * to be added back by a live cluster (state transfer) or, when the whole cluster restarted, for every
   * member of its last view to report: the one that delivered most becomes the source of the next view.
   */
  recover(snapshot: EngineSnapshot | undefined, log: readonly ({ readonly request: Request } | { readonly view: View })[]): void {
    if (!this.membership) throw new LockstepError(ErrorCodes.INVALID_CONFIG, `replica '${this.self}': recovering from a disk needs membership options`)
    if (snapshot) {
      this.state = this.machine.restore(snapshot.machine)
      this.sessions.restore(snapshot.sessions)
      this.deliveredCount = snapshot.position
      this.currentView = snapshot.view
    }
    this.replaying = true
    try {
      for (const entry of log) {
        if ('view' in entry) this.currentView = entry.view
        else this.execute(entry.request)
      }
    } finally {
      this.replaying = false
    }
    this.members = new Set(this.currentView.members)
    for (const member of this.currentView.members) this.universe.add(member)
    this.currentStatus = 'recovering'
    this.recoveryReports.set(this.self, { view: this.currentView, p: this.deliveredCount })
    this.lastJoinAttempt = -Infinity
    this.log.info(`replica '${this.self}' recovered view ${this.currentView.id} at position ${this.deliveredCount} from its disk`)
  }

  /**
   * Operator command: remove `replica` from the cluster through the same majority-agreed, ordered view
   * change as a failure. Requests it held are flushed like a crashed replica's. Its requests to join
   * are refused until an operator admits it again (`admitReplica`).
   */
  removeReplica(replica: ReplicaId): void {
    if (!this.membership) throw new LockstepError(ErrorCodes.INVALID_CONFIG, `replica '${this.self}': removing replicas needs membership options`)
    if (!this.members.has(replica)) throw new LockstepError(ErrorCodes.NOT_MEMBER, `'${replica}' is not a member of view ${this.currentView.id} (${this.currentView.members.join(', ')})`)
    if (this.currentView.members.length === 1) throw new LockstepError(ErrorCodes.INVALID_CONFIG, `cannot remove '${replica}': it is the last member`)
    for (const member of this.currentView.members) this.sendPeer(member, { k: 'remove', r: replica })
    this.drainSelf()
  }

  /**
   * Operator command: let `replica` ask to join (a replica not in the cluster configuration). It then
   * starts with `join: true`, is added by a majority-agreed view change and takes its state by transfer.
   */
  admitReplica(replica: ReplicaId): void {
    if (!this.membership) throw new LockstepError(ErrorCodes.INVALID_CONFIG, `replica '${this.self}': admitting replicas needs membership options`)
    this.universe.add(replica)
    this.removals.delete(replica)
    for (const member of this.currentView.members) if (member !== this.self) this.sendPeer(member, { k: 'admit', r: replica })
  }

  /**
   * The host could not send to `peer` (its link is full: the peer is stalled or far behind). The link is no
   * longer reliable, so the peer is treated as failed until a view change removes it; it then rejoins by
   * state transfer.
   */
  peerUnreachable(peer: ReplicaId): void {
    if (!this.membership || this.unreachable.has(peer)) return
    this.log.warn(`replica '${this.self}' cannot send to '${peer}' (its link is full); it suspects it until the next view`)
    this.unreachable.add(peer)
  }

  // ---------------------------------------------------------- inspection

  /** The current view. */
  get view(): View {
    return this.currentView
  }

  /** Where this replica stands. */
  get status(): EngineStatus {
    return this.currentStatus
  }

  /** Number of requests delivered (the position of the last one). */
  get position(): number {
    return this.deliveredCount
  }

  /** Number of requests executed here (delivered and not duplicates; not counting state transferred in). */
  get executed(): number {
    return this.executedCount
  }

  /** Requests this replica holds that are not delivered yet. */
  get pending(): number {
    return this.orderer.pendingCount() + this.heldDeliveries.length
  }

  /** The state machine's state as JSON (or its snapshot bytes' digest when it has no toJSON). */
  stateJSON(): unknown {
    return this.machine.toJSON ? this.machine.toJSON(this.state) : { digest: this.stateDigest() }
  }

  /** Digest of the machine state: equal on replicas that executed the same sequence. */
  stateDigest(): string {
    return fnv1a64(this.machine.snapshot(this.state))
  }

  // ------------------------------------------------------------- delivery

  private deliver(request: Request): void {
    if (this.currentStatus === 'transferring') {
      this.heldDeliveries.push(request)
      return
    }
    this.execute(request)
  }

  private execute(request: Request): void {
    const position = ++this.deliveredCount
    this.inFlight.delete(requestKey(request))
    const known = this.sessions.lookup(request.client, request.seq, request.incarnation)
    if (known.kind !== 'new') {
      // Ordered twice (the client retried at another replica): execute once, answer from the table.
      if (!this.replaying) this.effects.delivered?.(position, request, false)
      if (known.kind === 'executed') this.replyTo(request.client, known.reply)
      return
    }
    this.executedCount++
    if (!this.replaying) this.effects.delivered?.(position, request, true)
    const outputsFrom = this.sessions.beginIncarnation(request.client, request.incarnation ?? 0)
    let reply: Reply
    try {
      const outputs = this.machine.apply(this.state, request.command, { client: request.client, position })
      const own: NumberedOutput[] = []
      for (const output of outputs) {
        if (output.to === request.client) {
          // The requester's own outputs travel (and are kept) in its reply.
          own.push({ outputSeq: this.sessions.nextOutputSeq(output.to), value: output.value })
          continue
        }
        const notice = this.sessions.addOutput(output.to, (outputSeq) => ({
          outputSeq,
          value: output.value,
          to: output.to,
          cause: { client: request.client, seq: request.seq },
          position,
        }))
        if (!this.replaying) this.effects.sendToClient(output.to, { type: 'output', from: this.self, output: notice })
      }
      reply = outputsFrom > 1
        ? { client: request.client, seq: request.seq, ok: true, outputs: own, position, outputsFrom }
        : { client: request.client, seq: request.seq, ok: true, outputs: own, position }
    } catch (error) {
      const info: ErrorInfo = isLockstepError(error)
        ? error.toInfo()
        : { code: ErrorCodes.COMMAND_FAILED, message: `machine '${this.machine.name}' failed: ${(error as Error)?.message ?? String(error)}` }
      reply = { client: request.client, seq: request.seq, ok: false, error: info, position }
    }
    this.sessions.record(request.client, request.seq, request.ackedBelow ?? request.seq, request.outputsAckedBelow, reply)
    this.replyTo(request.client, reply)
  }

  private replyError(request: Request, error: ErrorInfo): void {
    this.replyTo(request.client, { client: request.client, seq: request.seq, ok: false, error })
  }

  private replyTo(client: ClientId, reply: Reply): void {
    if (this.replaying) return
    this.effects.sendToClient(client, { type: 'reply', from: this.self, reply })
  }

  // ----------------------------------------------------------- membership

  private sendPeer(to: ReplicaId, envelope: PeerEnvelope): void {
    if (to === this.self) {
      this.selfQueue.push(envelope)
      return
    }
    this.effects.sendToPeer(to, envelope)
  }

  /** Messages a replica sends itself (its own promise as coordinator) are handled after the current event. */
  private drainSelf(): void {
    if (this.draining) return
    this.draining = true
    try {
      while (this.selfQueue.length > 0) this.handlePeer(this.self, this.selfQueue.shift()!)
    } finally {
      this.draining = false
    }
  }

  private majority(): number {
    return Math.floor(this.currentView.members.length / 2) + 1
  }

  private handlePeer(from: ReplicaId, env: PeerEnvelope): void {
    const now = this.clock.now()
    if (!this.membership && env.k !== 'o') {
      this.log.warn(`dropped a '${env.k}' message from replica '${from}': membership changes are not enabled on this replica`)
      return
    }
    if (!this.universe.has(from)) {
      this.log.warn(`dropped a '${env.k}' message from '${from}', which is not a configured replica (an operator can admit it)`)
      return
    }
    if (this.members.has(from)) this.lastHeard.set(from, now)
    switch (env.k) {
      case 'o':
        if (env.v === this.currentView.id) {
          if (this.members.has(from) && (this.currentStatus === 'normal' || this.currentStatus === 'transferring')) this.orderer.receive(from, env.m)
        } else if (env.v > this.currentView.id) {
          if (this.futureMessages.length < 100_000) this.futureMessages.push({ from, env })
          this.sendPeer(from, { k: 'query', v: env.v })
        } else if (!this.members.has(from)) {
          this.sendPeer(from, { k: 'removed', view: this.currentView })
        }
        return
      case 'hb':
        if (env.v === this.currentView.id && this.members.has(from)) this.peerSuspects.set(from, env.s)
        else if (env.v > this.currentView.id) this.sendPeer(from, { k: 'query', v: env.v })
        else if (env.v < this.currentView.id) this.sendPeer(from, this.lastCommit && this.members.has(from) ? { k: 'commit', value: this.lastCommit } : { k: 'removed', view: this.currentView })
        return
      case 'prepare':
        return this.onPrepare(from, env)
      case 'promise':
        return this.onPromise(from, env)
      case 'nack':
        this.highestRound = Math.max(this.highestRound, env.b[0])
        if (this.coordination && this.coordination.v === env.v && ballotAbove(env.b, this.coordination.b)) this.coordination = undefined
        return
      case 'accept':
        return this.onAccept(from, env)
      case 'accepted':
        return this.onAccepted(from, env)
      case 'commit':
        return this.install(env.value)
      case 'query':
        if (this.lastCommit && env.v <= this.currentView.id) this.sendPeer(from, { k: 'commit', value: this.lastCommit })
        return
      case 'removed':
        if (env.view.id > this.currentView.id && !env.view.members.includes(this.self)) this.leave(env.view)
        return
      case 'join':
        if (this.removals.has(from)) return
        if (this.currentStatus !== 'joining' && Number.isFinite(env.n)) {
          if (this.joinRequests.get(from) !== env.n) this.log.info(`replica '${from}' asks to join view ${this.currentView.id}`)
          this.joinRequests.set(from, env.n)
        }
        return
      case 'recover':
        return this.onRecover(from, env)
      case 'remove':
        if (this.members.has(from) && this.members.has(env.r) && !this.removals.has(env.r)) {
          this.log.info(`replica '${env.r}' is to be removed (asked at '${from}')`)
          this.removals.add(env.r)
        }
        return
      case 'admit':
        if (this.members.has(from)) {
          this.universe.add(env.r)
          this.removals.delete(env.r)
        }
        return
      case 'state?':
        if (this.boundaryState && this.boundaryState.v === env.v && this.currentStatus !== 'transferring') {
          const { v, position, machine, sessions } = this.boundaryState
          this.sendPeer(from, { k: 'state', v, position, machine, sessions })
        } else if (this.lastCommit && env.v < this.currentView.id) {
          this.sendPeer(from, { k: 'commit', value: this.lastCommit })
        }
        return
      case 'state':
        return this.onState(env)
      default:
        this.log.warn(`dropped a message of unknown kind from replica '${from}'`)
    }
  }

  private tickMembership(): void {
    const options = this.membership!
    const now = this.clock.now()
    if (this.currentStatus === 'recovering') {
      if (now - this.lastJoinAttempt >= options.viewChangeTimeoutMs / 2) {
        this.lastJoinAttempt = now
        for (const replica of this.universe) {
          if (replica !== this.self) this.sendPeer(replica, { k: 'recover', view: this.currentView, p: this.deliveredCount, n: this.incarnation, u: [...this.universe] })
        }
      }
      return
    }
    if (this.currentStatus === 'joining') {
      if (now - this.lastJoinAttempt >= options.viewChangeTimeoutMs / 2) {
        this.lastJoinAttempt = now
        for (const replica of this.universe) if (replica !== this.self) this.sendPeer(replica, { k: 'join', n: this.incarnation })
      }
      return
    }
    // Heartbeats go out on their own schedule, whatever else flows: they carry this replica's suspicions.
    const suspects = this.suspects(now)
    for (const member of this.currentView.members) {
      if (member !== this.self && now - (this.lastHeartbeat.get(member) ?? -Infinity) >= options.heartbeatMs) {
        this.lastHeartbeat.set(member, now)
        this.sendPeer(member, { k: 'hb', v: this.currentView.id, s: suspects })
      }
    }
    if (this.currentStatus === 'transferring') {
      if (now - this.lastJoinAttempt >= options.viewChangeTimeoutMs / 2) {
        this.lastJoinAttempt = now
        this.requestState()
      }
      return
    }
    // A view change is needed when a majority suspects a member, someone asks to join, or one is stuck half-way.
    const suspectedByMajority = this.currentView.members.some((m) => m !== this.self && this.suspicionCount(m, suspects) >= this.majority())
    const joins = this.joinRequests.size > 0
    const removals = [...this.removals].some((r) => this.members.has(r))
    const needed = suspectedByMajority || joins || removals || this.currentStatus === 'frozen'
    if (!needed) {
      this.needSince = undefined
      return
    }
    this.needSince ??= now
    // Coordinators take turns, so they do not duel: the lowest-id member that is neither suspected here nor
    // asking to join goes first; the one ranked r waits r timeouts, and after any sign of another
    // coordinator's progress (a prepare or accept) it waits r + 1 timeouts again.
    const candidates = this.currentView.members.filter((m) => m === this.self || (!suspects.includes(m) && !this.joinRequests.has(m)))
    const rank = candidates.indexOf(this.self)
    if (rank < 0) return
    const lastActivity = Math.max(this.coordination?.startedAt ?? -Infinity, this.lastViewChangeSeen)
    const due = lastActivity >= this.needSince ? lastActivity + (rank + 1) * options.viewChangeTimeoutMs : this.needSince + rank * options.viewChangeTimeoutMs
    if (now >= due) this.startViewChange(now)
  }

  private suspects(now: number): ReplicaId[] {
    const limit = this.membership!.suspectAfterMs
    return this.currentView.members.filter((m) => m !== this.self && (this.unreachable.has(m) || now - (this.lastHeard.get(m) ?? now) > limit))
  }

  private suspicionCount(member: ReplicaId, ownSuspects: readonly ReplicaId[]): number {
    let count = ownSuspects.includes(member) ? 1 : 0
    for (const [peer, suspects] of this.peerSuspects) if (peer !== member && this.members.has(peer) && suspects.includes(member)) count++
    return count
  }

  private startViewChange(now: number): void {
    this.highestRound = Math.max(this.highestRound, this.promised?.[0] ?? 0) + 1
    const b: Ballot = [this.highestRound, this.self]
    const v = this.currentView.id + 1
    this.coordination = { v, b, startedAt: now, promises: new Map(), accepts: new Set(), value: undefined }
    this.log.info(`replica '${this.self}' starts a view change to view ${v} (ballot ${b[0]})`)
    for (const member of this.currentView.members) this.sendPeer(member, { k: 'prepare', v, b })
  }

  private onPrepare(from: ReplicaId, env: Extract<PeerEnvelope, { k: 'prepare' }>): void {
    // Only members that hold the old view's state may vouch for it.
    if (this.currentStatus === 'joining' || this.currentStatus === 'transferring' || this.currentStatus === 'recovering' || !this.members.has(from)) return
    if (env.v !== this.currentView.id + 1) {
      if (env.v <= this.currentView.id && this.lastCommit) this.sendPeer(from, { k: 'commit', value: this.lastCommit })
      return
    }
    this.highestRound = Math.max(this.highestRound, env.b[0])
    if (from !== this.self) this.lastViewChangeSeen = this.clock.now()
    if (this.promised && !ballotAbove(env.b, this.promised) && !(env.b[0] === this.promised[0] && env.b[1] === this.promised[1])) {
      this.sendPeer(from, { k: 'nack', v: env.v, b: this.promised })
      return
    }
    this.promised = env.b
    this.freeze()
    this.sendPeer(from, { k: 'promise', v: env.v, b: env.b, report: this.frozenReport, s: this.suspects(this.clock.now()), accepted: this.accepted })
  }

  /** Stops ordering in the current view (once): from now on this replica delivers nothing until the next view. */
  private freeze(): void {
    if (this.currentStatus === 'normal') {
      this.frozenReport = (this.orderer as CrashTolerantOrderer).freeze()
      this.currentStatus = 'frozen'
    }
  }

  private onPromise(from: ReplicaId, env: Extract<PeerEnvelope, { k: 'promise' }>): void {
    const c = this.coordination
    if (!c || c.v !== env.v || c.b[0] !== env.b[0] || c.b[1] !== env.b[1] || c.value) return
    if (!this.members.has(from) || this.currentStatus === 'transferring') return
    c.promises.set(from, env)
    if (c.promises.size < this.majority()) return
    // A majority of the old view promised: choose the value (Paxos: an accepted value must be proposed again).
    let best: { b: Ballot; value: ViewValue } | null = null
    for (const promise of c.promises.values()) if (promise.accepted && (!best || ballotAbove(promise.accepted.b, best.b))) best = promise.accepted
    c.value = best?.value ?? this.proposeValue(c)
    for (const member of this.currentView.members) this.sendPeer(member, { k: 'accept', v: c.v, b: c.b, value: c.value })
  }

  /** The next view: members a majority suspects leave, replicas that asked to join come in and take their state by transfer. */
  private proposeValue(c: Coordination): ViewValue {
    const promises = [...c.promises.values()]
    const removed = this.currentView.members.filter(
      (m) => this.removals.has(m) || (promises.filter((p) => p.s.includes(m)).length >= this.majority() && !c.promises.has(m)),
    )
    const joining = [...this.joinRequests.keys()].filter((r) => !c.promises.has(r) && !removed.includes(r)).sort()
    const incarnations = Object.fromEntries(joining.map((r) => [r, this.joinRequests.get(r)!]))
    const members = [...new Set([...this.currentView.members.filter((m) => !removed.includes(m)), ...joining])].sort()
    const boundary = (this.orderer as CrashTolerantOrderer).mergeReports(promises.map((p) => p.report))
    return { view: { id: c.v, members }, joining, incarnations, boundary }
  }

  private onAccept(from: ReplicaId, env: Extract<PeerEnvelope, { k: 'accept' }>): void {
    if (this.currentStatus === 'joining' || this.currentStatus === 'transferring' || this.currentStatus === 'recovering' || !this.members.has(from) || env.v !== this.currentView.id + 1) return
    if (this.promised && ballotAbove(this.promised, env.b)) {
      this.sendPeer(from, { k: 'nack', v: env.v, b: this.promised })
      return
    }
    if (from !== this.self) this.lastViewChangeSeen = this.clock.now()
    this.promised = env.b
    this.accepted = { b: env.b, value: env.value }
    this.freeze()
    this.sendPeer(from, { k: 'accepted', v: env.v, b: env.b })
  }

  private onAccepted(from: ReplicaId, env: Extract<PeerEnvelope, { k: 'accepted' }>): void {
    const c = this.coordination
    if (!c || !c.value || c.v !== env.v || c.b[0] !== env.b[0] || c.b[1] !== env.b[1] || !this.members.has(from)) return
    c.accepts.add(from)
    if (c.accepts.size < this.majority()) return
    // Chosen: a majority of the old view accepted it. Tell everyone, old members and new.
    const value = c.value
    this.coordination = undefined
    for (const replica of new Set([...this.currentView.members, ...value.view.members])) this.sendPeer(replica, { k: 'commit', value })
  }

  /** Installs a chosen view: the flush delivers the old view's agreed end, then the new view starts. */
  private install(value: ViewValue): void {
    if (value.view.id <= this.currentView.id) return
    // A replica outside the view (restarted without state, or removed) may only come in as one of the
    // view's joiners: a view that lists it as a plain member counted on acknowledgements it no longer has.
    if ((this.currentStatus === 'joining' || this.currentStatus === 'recovering') && value.incarnations[this.self] !== this.incarnation) return
    const isMember = value.view.members.includes(this.self)
    const consecutive = value.view.id === this.currentView.id + 1
    const joiner = value.joining.includes(this.self)
    // A whole-cluster recovery view has no boundary: everyone but its source takes the state by transfer.
    const canFlush = consecutive && isMember && !joiner && value.boundary !== undefined && (this.currentStatus === 'normal' || this.currentStatus === 'frozen')
    if (canFlush && (this.orderer as CrashTolerantOrderer).install(value.view, value.boundary)) {
      this.enterView(value, 'normal')
      this.boundaryState = { v: value.view.id, position: this.deliveredCount, machine: this.machine.snapshot(this.state), sessions: this.sessions.toJSON() }
      this.effects.viewInstalled?.(value.view, this.deliveredCount)
      this.log.info(`replica '${this.self}' installed view ${value.view.id}: ${value.view.members.join(', ')} at position ${this.deliveredCount}`)
      for (const request of this.heldSubmissions.splice(0)) this.submit(request)
    } else if (isMember) {
      // Joining, or too far behind to end the old view by itself: order in the new view, execute after the state arrives.
      this.orderer.viewChanged(value.view)
      this.enterView(value, 'transferring')
      this.heldDeliveries = []
      this.lastJoinAttempt = this.clock.now()
      this.requestState()
    } else {
      this.leave(value.view)
      return
    }
    this.replayFutureMessages()
  }

  private enterView(value: ViewValue, status: EngineStatus): void {
    this.currentView = value.view
    this.members = new Set(value.view.members)
    for (const member of value.view.members) this.universe.add(member)
    this.currentStatus = status
    this.lastCommit = value
    this.promised = null
    this.accepted = null
    this.frozenReport = undefined
    this.coordination = undefined
    this.needSince = undefined
    this.lastViewChangeSeen = -Infinity
    this.peerSuspects.clear()
    this.unreachable.clear()
    for (const joiner of value.joining) if (this.joinRequests.get(joiner) === value.incarnations[joiner]) this.joinRequests.delete(joiner)
    this.inFlight = new Set()
    const now = this.clock.now()
    this.lastHeard.clear()
    for (const member of value.view.members) this.lastHeard.set(member, now)
  }

  private replayFutureMessages(): void {
    const messages = this.futureMessages.splice(0)
    for (const { from, env } of messages) this.handlePeer(from, env)
  }

  private requestState(): void {
    const sources = this.currentView.members.filter((m) => m !== this.self && !(this.lastCommit?.joining ?? []).includes(m))
    for (const source of sources) this.sendPeer(source, { k: 'state?', v: this.currentView.id })
  }

  private onState(env: Extract<PeerEnvelope, { k: 'state' }>): void {
    if (this.currentStatus !== 'transferring' || env.v !== this.currentView.id) return
    this.state = this.machine.restore(env.machine)
    this.sessions.restore(env.sessions)
    this.deliveredCount = env.position
    this.boundaryState = { v: env.v, position: env.position, machine: env.machine, sessions: env.sessions }
    this.currentStatus = 'normal'
    this.effects.stateReplaced?.(env.position)
    this.effects.viewInstalled?.(this.currentView, env.position)
    this.log.info(`replica '${this.self}' took the state of view ${env.v} at position ${env.position} and serves again`)
    for (const request of this.heldDeliveries.splice(0)) this.execute(request)
    for (const request of this.heldSubmissions.splice(0)) this.submit(request)
  }

  /**
   * Whole-cluster recovery. A live cluster treats a recovering replica like any joiner (its disk state is
   * replaced by a transfer). Among recovering replicas, once every configured replica reported, they all
   * agree, from the same reports, on the next view: all of them, numbered after the newest view anyone
   * remembers, its state taken from the replica that delivered most (ties to the lowest id; delivered
   * sequences are prefixes of one another). Every acknowledged request was on the disk of the replica that
   * answered it, so it survives.
   */
  private onRecover(from: ReplicaId, env: Extract<PeerEnvelope, { k: 'recover' }>): void {
    if (this.currentStatus === 'normal' || this.currentStatus === 'frozen') {
      if (!this.removals.has(from) && this.joinRequests.get(from) !== env.n) {
        this.log.info(`replica '${from}' restarted from its disk; it rejoins by state transfer`)
        this.joinRequests.set(from, env.n)
      }
      return
    }
    if (this.currentStatus !== 'recovering') return
    this.recoveryReports.set(from, { view: env.view, p: env.p })
    for (const replica of env.u) this.universe.add(replica)
    // Decide only once every replica anyone knows of has reported: a view installed by some of them may be
    // remembered by one replica alone (the others crashed before syncing it), and all must decide alike.
    if (![...this.universe].every((r) => this.recoveryReports.has(r))) return
    let latest = this.currentView
    for (const report of this.recoveryReports.values()) if (report.view.id > latest.id) latest = report.view
    let source = this.self
    for (const [replica, report] of this.recoveryReports) {
      const best = this.recoveryReports.get(source)!.p
      if (report.p > best || (report.p === best && replica < source)) source = replica
    }
    const members = [...this.universe].sort()
    const next: View = { id: latest.id + 1, members }
    const value: ViewValue = { view: next, joining: members.filter((m) => m !== source), incarnations: {}, boundary: undefined }
    this.log.info(`whole-cluster recovery: view ${next.id} (${next.members.join(', ')}) resumes from '${source}' at position ${this.recoveryReports.get(source)!.p}`)
    this.recoveryReports.clear()
    this.orderer.viewChanged(next)
    if (source === this.self) {
      this.enterView(value, 'normal')
      this.boundaryState = { v: next.id, position: this.deliveredCount, machine: this.machine.snapshot(this.state), sessions: this.sessions.toJSON() }
      this.effects.viewInstalled?.(next, this.deliveredCount)
    } else {
      this.enterView(value, 'transferring')
      this.heldDeliveries = []
      this.lastJoinAttempt = this.clock.now()
      this.requestState()
    }
    this.replayFutureMessages()
  }

  /** This replica is not a member any more: stop serving and ask to be added back. */
  private leave(view: View): void {
    if (this.currentStatus === 'joining' && view.id <= this.currentView.id) return
    this.log.warn(`replica '${this.self}' is not a member of view ${view.id} (${view.members.join(', ')}); it rejoins by state transfer`)
    if (this.currentStatus === 'normal') (this.orderer as CrashTolerantOrderer).freeze()
    this.currentStatus = 'joining'
    this.currentView = view
    this.members = new Set(view.members)
    for (const member of view.members) this.universe.add(member)
    this.heldSubmissions = []
    this.heldDeliveries = []
    this.inFlight = new Set()
    this.coordination = undefined
    this.promised = null
    this.accepted = null
    this.lastJoinAttempt = -Infinity
  }
}

function requestKey(request: Request): string {
  return `${request.client}\u0000${request.seq}`
}
