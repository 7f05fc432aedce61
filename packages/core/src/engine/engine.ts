import {
  ErrorCodes,
  LockstepError,
  isCrashTolerant,
  isLockstepError,
  silentLogger,
  type ClientId,
  type Clock,
  type ReplicaToClient,
  type CrashTolerantOrderer,
  type Logger,
  type Orderer,
  type ReplicaId,
  type Request,
  type View,
} from '@lockstep/interface'
import type { EngineEffects, EngineOptions, EngineSnapshot, EngineStatus, RecoveredEntry } from './engine-types'
import { DurableReplies } from './durable-replies'
import { EngineInvariants } from './invariants'
import { Membership, type StartAs } from './membership'
import type { PeerMessage, PeerMessageKind, PeerMessageOf } from './peer-messages'
import { majorityOf } from './view-change/quorum'
import { RequestPath } from './request-path'

/** The status changes the engine makes (see `transitionTo`); any other is a bug. */
const transitions: Readonly<Record<EngineStatus, readonly EngineStatus[]>> = {
  normal: ['normal', 'frozen', 'transferring', 'joining', 'recovering'],
  frozen: ['normal', 'transferring', 'joining'],
  transferring: ['normal', 'transferring', 'joining'],
  joining: ['normal', 'transferring', 'joining', 'recovering'],
  recovering: ['normal', 'transferring', 'joining'],
}

/**
 * The deterministic replica engine: events in (client requests, peer messages,
 * ticks), effects out (sends, replies, deliveries). It reads time only through
 * the injected clock and does no I/O, so the same engine runs in the simulator
 * and behind TCP.
 *
 * Requests take the `RequestPath` (sessions, validation, ordering, execution).
 * Each peer message kind has one handler (the table below), and every status
 * change goes through `transitionTo`. With `membership` options the engine
 * also has a `Membership`: failure detection, majority-agreed view changes,
 * joins, state transfer and whole-cluster recovery.
 */
export class ReplicaEngine<S = unknown> {
  readonly self: ReplicaId
  private readonly requests: RequestPath<S>
  private readonly orderer: Orderer
  private readonly effects: EngineEffects
  private readonly log: Logger
  private readonly clock: Clock
  private currentView: View
  private members: Set<ReplicaId>
  /** Every replica this one knows of (configured, spares, admitted): where asks go, and who may send to this one. */
  private readonly replicas: Set<ReplicaId>
  private currentStatus: EngineStatus
  private readonly membership: Membership | undefined
  /** Orderer messages of views this replica has not installed yet: handled once it has. */
  private readonly futureMessages: { from: ReplicaId; message: PeerMessageOf<'orderer'> }[] = []
  /** Messages a replica sends itself (its own promise as coordinator) are handled after the current event. */
  private readonly selfQueue: PeerMessage[] = []
  private draining = false
  /** True while the orderer delivers the agreed end of the old view. */
  private flushing = false
  private readonly invariants: EngineInvariants | undefined
  /** With durable storage: replies wait for a majority's disks. */
  private readonly durableReplies: DurableReplies | undefined

  constructor(options: EngineOptions<S>) {
    this.self = options.self
    this.effects = options.effects
    this.log = options.log ?? silentLogger
    this.clock = options.clock
    this.currentView = { id: options.view.id, members: [...options.view.members].sort() }
    this.members = new Set(this.currentView.members)
    this.replicas = new Set([...(options.replicas ?? []), ...this.currentView.members, this.self])
    if (!this.members.has(this.self) && !options.join) {
      throw new LockstepError(ErrorCodes.INVALID_CONFIG, `replica '${this.self}' is not a member of its initial view (${options.view.members.join(', ')}); start it with join: true to add it`)
    }
    if (options.join && !options.membership) {
      throw new LockstepError(ErrorCodes.INVALID_CONFIG, `replica '${this.self}': join needs membership options (failure detection and view changes)`)
    }
    const startAs: StartAs = !options.membership ? 'member' : options.join ? 'joiner' : (options.startAs ?? 'fresh')
    this.currentStatus = startAs === 'member' ? 'normal' : 'joining'
    this.invariants = options.checkInvariants ? new EngineInvariants() : undefined
    if (options.durableReplies && !options.membership) throw new LockstepError(ErrorCodes.INVALID_CONFIG, `replica '${this.self}': durable replies need membership options`)
    this.durableReplies = options.durableReplies ? new DurableReplies() : undefined
    this.requests = new RequestPath(options.machine, {
      self: this.self,
      effects: { ...this.effects, sendToClient: (to, message) => this.sendToClient(to, message) },
      log: this.log,
      status: () => this.currentStatus,
      order: (request) => this.orderer.submit(request),
      startingCluster: () => this.membership?.isFresh === true,
    })
    this.orderer = options.orderer({
      clock: options.clock,
      self: this.self,
      log: this.log,
      view: () => this.currentView,
      send: (to, message) => this.sendPeer(to, { kind: 'orderer', view: this.currentView.id, message }),
      broadcast: (message) => {
        const envelope: PeerMessage = { kind: 'orderer', view: this.currentView.id, message }
        for (const member of this.currentView.members) if (member !== this.self) this.sendPeer(member, envelope)
      },
      deliver: (request) => this.deliver(request),
    })
    this.membership = options.membership && this.createMembership(options, startAs)
  }

  private createMembership(options: EngineOptions<S>, startAs: StartAs): Membership {
    const orderer = this.orderer
    if (!isCrashTolerant(orderer)) {
      throw new LockstepError(ErrorCodes.INVALID_CONFIG, `orderer '${orderer.name}' does not support view changes, so it cannot be used with membership (failure detection)`)
    }
    const host = {
      self: this.self,
      clock: this.clock,
      log: this.log,
      effects: this.effects,
      incarnation: this.clock.now(),
      orderer,
      requests: this.requests as RequestPath<unknown>,
      replicas: this.replicas,
      initialView: this.currentView,
      initialConfiguration: this.currentView.members,
      status: () => this.currentStatus,
      view: () => this.currentView,
      isMember: (replica: ReplicaId) => this.members.has(replica),
      transitionTo: (status: EngineStatus, view?: View) => this.transitionTo(status, view),
      send: (to: ReplicaId, message: PeerMessage) => this.sendPeer(to, message),
      replayFutureMessages: () => this.replayFutureMessages(),
      endView: (view: View, boundary: unknown) => this.endView(orderer, view, boundary),
      forgetDurable: (replicas: readonly ReplicaId[]) => this.durableReplies?.forget(replicas),
    }
    return new Membership(host, options.membership!, startAs)
  }

  // ----------------------------------------------------------------- events

  /** A message from a client. Bad messages are logged and dropped; bad commands get an error reply. */
  onClientMessage(client: ClientId, message: unknown): void {
    this.requests.onClientMessage(client, message)
    this.afterEvent()
  }

  /** A message from another replica (decoded by the host: see `decodePeerMessage`). Bad ones are logged and dropped. */
  onPeerMessage(from: ReplicaId, message: PeerMessage): void {
    try {
      this.handlePeer(from, message)
      this.drainSelf()
    } catch (error) {
      if (!isLockstepError(error) || error.code === ErrorCodes.INTERNAL) throw error
      this.log.warn(`dropped a message from replica '${from}': ${error.message}`, { code: error.code })
    }
    this.afterEvent()
  }

  /** Time passed: heartbeats, failure detection, view changes, repeated asks. */
  tick(): void {
    this.membership?.tick()
    if (this.orders()) this.orderer.tick()
    this.drainSelf()
    this.afterEvent()
  }

  /** The end of a burst of events: the orderer sends what it batched. */
  flush(): void {
    if (this.orders()) this.orderer.flush()
  }

  /** A snapshot of everything needed to resume here (for durable storage). */
  snapshotData(): EngineSnapshot {
    const votes = this.membership?.viewChange.votes
    return { view: this.currentView, ...this.requests.replicated.image(), ...(this.membership ? { configuration: this.membership.currentConfiguration, votes } : {}) }
  }

  /**
   * Restarts from a disk: restores `snapshot`, then replays the requests delivered after it (`log`, in
   * order, with the views installed on the way). The replica then waits, in status `recovering`, either
   * to be added back by a live cluster (state transfer) or, when the whole cluster restarted, for every
   * configured replica to report: the one that delivered most becomes the source of the next view.
   */
  recover(snapshot: EngineSnapshot | undefined, log: readonly RecoveredEntry[]): void {
    const membership = this.requireMembership('recovering from a disk')
    let view = snapshot?.view ?? this.currentView
    let configuration = snapshot?.configuration
    let votes = snapshot?.votes
    if (snapshot) this.requests.replicated.restore(snapshot)
    for (const entry of log) {
      if ('view' in entry) {
        view = entry.view
        configuration = entry.configuration ?? configuration
      } else if ('votes' in entry) votes = entry.votes
    }
    this.requests.replay(log.flatMap((entry) => ('request' in entry ? [entry.request] : [])))
    this.setView(view)
    membership.restoreConfiguration(configuration ?? [...new Set([...this.replicas].filter((r) => view.members.includes(r) || this.currentView.members.includes(r)))])
    membership.recovering(votes)
    this.log.info(`replica '${this.self}' recovered view ${view.id} at position ${this.position} from its disk`)
  }

  /**
   * Operator command: remove `replica` from the cluster through the same majority-agreed, ordered view
   * change as a failure. Requests it held are flushed like a crashed replica's. Its requests to join
   * are refused until an operator admits it again (`admitReplica`).
   */
  removeReplica(replica: ReplicaId): void {
    this.requireMembership('removing replicas')
    if (!this.members.has(replica)) throw new LockstepError(ErrorCodes.NOT_MEMBER, `'${replica}' is not a member of view ${this.currentView.id} (${this.currentView.members.join(', ')})`)
    if (this.currentView.members.length === 1) throw new LockstepError(ErrorCodes.INVALID_CONFIG, `cannot remove '${replica}': it is the last member`)
    for (const member of this.currentView.members) this.sendPeer(member, { kind: 'remove', replica })
    this.drainSelf()
    this.afterEvent()
  }

  /**
   * Operator command: let `replica` ask to join (a replica not in the cluster configuration). It then
   * starts with `join: true`, is added by a majority-agreed view change and takes its state by transfer.
   */
  admitReplica(replica: ReplicaId): void {
    this.requireMembership('admitting replicas').asks.admit(replica)
    this.replicas.add(replica)
    for (const member of this.currentView.members) if (member !== this.self) this.sendPeer(member, { kind: 'admit', replica })
  }

  /**
   * The host's disk now holds the order up to `position` (its sync covering that delivery, or the snapshot of a
   * transferred state, completed). With durable replies, the peers are told, and replies a majority's disks
   * now cover go out.
   */
  durableUpTo(position: number): void {
    if (!this.durableReplies?.record(this.self, position)) return
    for (const member of this.currentView.members) if (member !== this.self) this.sendPeer(member, { kind: 'durable', position })
    this.releaseDurable()
    this.afterEvent()
  }

  /**
   * The host could not send to `peer` (its link is full: the peer is stalled or far behind). The link is no
   * longer reliable, so the peer is treated as failed until a view change removes it; it then rejoins by
   * state transfer.
   */
  peerUnreachable(peer: ReplicaId): void {
    if (!this.membership?.detector.markUnreachable(peer)) return
    this.log.warn(`replica '${this.self}' cannot send to '${peer}' (its link is full); it suspects it until the next view`)
  }

  // ------------------------------------------------------------- inspection

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
    return this.requests.replicated.position
  }

  /** Number of requests executed here (delivered and not duplicates; not counting state transferred in). */
  get executed(): number {
    return this.requests.replicated.executed
  }

  /** Requests this replica holds that are not delivered yet (or delivered and held until a transfer). */
  get pending(): number {
    return this.orderer.pendingCount() + (this.membership?.held ?? 0)
  }

  /** The state machine's state as JSON (or its snapshot bytes' digest when it has no toJSON). */
  stateJSON(): unknown {
    return this.requests.replicated.toJSON()
  }

  /** Digest of the machine state: equal on replicas that executed the same sequence. */
  stateDigest(): string {
    return this.requests.replicated.digest()
  }

  // ---------------------------------------------------------- peer messages

  /** One handler per peer message kind (membership's are in `Membership` and `ViewChange`). */
  private readonly handlers: { readonly [K in PeerMessageKind]: (from: ReplicaId, message: PeerMessageOf<K>, membership: Membership) => void } = {
    orderer: (from, m) => this.onOrderer(from, m),
    heartbeat: (from, m, membership) => membership.onHeartbeat(from, m),
    prepare: (from, m, membership) => membership.viewChange.onPrepare(from, m),
    promise: (from, m, membership) => membership.viewChange.onPromise(from, m),
    nack: (_from, m, membership) => membership.viewChange.onNack(m),
    accept: (from, m, membership) => membership.viewChange.onAccept(from, m),
    accepted: (from, m, membership) => membership.viewChange.onAccepted(from, m),
    commit: (_from, m, membership) => membership.install(m.value),
    query: (from, m, membership) => membership.onQuery(from, m),
    removed: (_from, m, membership) => membership.onRemoved(m),
    join: (from, m, membership) => membership.onJoin(from, m),
    remove: (from, m, membership) => (this.members.has(from) ? membership.asks.remove(m.replica) : undefined),
    admit: (from, m, membership) => (this.members.has(from) ? (this.replicas.add(m.replica), membership.asks.admit(m.replica)) : undefined),
    recover: (from, m, membership) => membership.onRecover(from, m),
    stateRequest: (from, m, membership) => membership.onStateRequest(from, m),
    stateTransfer: (_from, m, membership) => membership.onStateTransfer(m),
    durable: (from, m) => {
      if (this.durableReplies?.record(from, m.position)) this.releaseDurable()
    },
  }

  private handlePeer(from: ReplicaId, message: PeerMessage): void {
    if (!this.replicas.has(from)) {
      this.log.warn(`dropped a '${message.kind}' message from '${from}', which is not a configured replica (an operator can admit it)`)
      return
    }
    if (message.kind !== 'orderer' && !this.membership) {
      this.log.warn(`dropped a '${message.kind}' message from replica '${from}': membership changes are not enabled on this replica`)
      return
    }
    if (this.members.has(from)) this.membership?.detector.heard(from, this.clock.now())
    this.membership?.noteMessage(message)
    const handler = this.handlers[message.kind] as ((from: ReplicaId, message: PeerMessage, membership: Membership) => void) | undefined
    if (!handler) throw new LockstepError(ErrorCodes.MALFORMED_MESSAGE, `unknown peer message kind '${String(message.kind)}'`)
    handler(from, message, this.membership as Membership)
  }

  private onOrderer(from: ReplicaId, m: PeerMessageOf<'orderer'>): void {
    const fresh = this.membership?.isFresh === true
    if (m.view === this.currentView.id && !fresh) {
      if (this.members.has(from) && this.orders()) this.receiveOrdererMessage(from, m.message)
    } else if (m.view >= this.currentView.id) {
      // A newer view's messages (or the new cluster's, to a fresh replica about to start it) wait until it is installed.
      if (this.futureMessages.length < 100_000) this.futureMessages.push({ from, message: m })
      if (m.view > this.currentView.id) this.sendPeer(from, { kind: 'query', view: m.view })
    } else if (!this.members.has(from)) {
      this.sendPeer(from, { kind: 'removed', view: this.currentView })
    }
  }

  /**
   * An orderer that refuses a member's message (a gap in its stream: the member restarted, or the link lost
   * messages) cannot order with it any more: the member is suspected, so a view change brings it back.
   */
  private receiveOrdererMessage(from: ReplicaId, message: unknown): void {
    try {
      this.orderer.receive(from, message)
    } catch (error) {
      if (!isLockstepError(error) || !this.membership) throw error
      if (this.membership.detector.markUnreachable(from)) this.log.warn(`replica '${this.self}' suspects '${from}': its orderer refused its message: ${error.message}`)
    }
  }

  private replayFutureMessages(): void {
    for (const { from, message } of this.futureMessages.splice(0)) this.handlePeer(from, message)
  }

  private sendPeer(to: ReplicaId, message: PeerMessage): void {
    if (to === this.self) this.selfQueue.push(message)
    else this.effects.sendToPeer(to, message)
  }

  private drainSelf(): void {
    if (this.draining) return
    this.draining = true
    try {
      while (this.selfQueue.length > 0) this.handlePeer(this.self, this.selfQueue.shift()!)
    } finally {
      this.draining = false
    }
  }

  // --------------------------------------------------- delivery and status

  /** A reply or output for a client: with durable replies, it waits until a majority's disks hold its request. */
  private sendToClient(to: ClientId, message: ReplicaToClient): void {
    const position = message.type === 'reply' ? message.reply.position : message.output.position
    if (!this.durableReplies || position === undefined || position <= this.durableCovered()) return this.effects.sendToClient(to, message)
    this.durableReplies.hold(position, to, message)
  }

  private durableCovered(): number {
    const configuration = this.membership?.currentConfiguration ?? this.currentView.members
    return this.durableReplies!.covered(this.currentView.members, majorityOf(configuration.length))
  }

  private releaseDurable(): void {
    for (const { to, message } of this.durableReplies!.release(this.durableCovered())) this.effects.sendToClient(to, message)
  }

  private deliver(request: Request): void {
    const violation = this.invariants?.onDeliver(this.currentStatus, this.flushing, this.requests.isReplaying)
    if (violation) throw new LockstepError(ErrorCodes.INTERNAL, `replica '${this.self}' broke an invariant: ${violation}`)
    if (this.currentStatus === 'transferring') this.membership!.transfer.hold(request)
    else this.requests.execute(request)
  }

  /** The view-change flush: the orderer delivers the old view's agreed end, then orders in `view`. */
  private endView(orderer: CrashTolerantOrderer, view: View, boundary: unknown): boolean {
    this.flushing = true
    try {
      return orderer.install(view, boundary)
    } finally {
      this.flushing = false
    }
  }

  /** The one place the status changes; with `view`, the view changes with it. */
  private transitionTo(next: EngineStatus, view?: View): void {
    if (!transitions[this.currentStatus].includes(next)) {
      throw new LockstepError(ErrorCodes.INTERNAL, `replica '${this.self}': no transition from ${this.currentStatus} to ${next}`)
    }
    this.currentStatus = next
    if (view) this.setView(view)
  }

  private setView(view: View): void {
    this.currentView = view
    this.members = new Set(view.members)
    for (const member of view.members) this.replicas.add(member)
  }

  /** True while the orderer runs: ordering normally, or ordering with deliveries held for a transfer. */
  private orders(): boolean {
    return this.currentStatus === 'normal' || this.currentStatus === 'transferring'
  }

  private requireMembership(what: string): Membership {
    if (!this.membership) throw new LockstepError(ErrorCodes.INVALID_CONFIG, `replica '${this.self}': ${what} needs membership options`)
    return this.membership
  }

  private afterEvent(): void {
    try {
      this.checkInvariants()
    } finally {
      this.membership?.settle()
    }
  }

  private checkInvariants(): void {
    if (!this.invariants) return
    const violations = this.invariants.afterEvent({
      status: this.currentStatus,
      view: this.currentView,
      position: this.position,
      promised: this.membership?.viewChange.votedAfter(this.currentView.id) ?? false,
      coordinating: this.membership?.viewChange.coordinating,
      restartedFromDisk: this.membership?.restartedFromDisk ?? false,
    })
    if (violations.length > 0) throw new LockstepError(ErrorCodes.INTERNAL, `replica '${this.self}' broke an invariant: ${violations.join('; ')}`)
  }
}
