import { ErrorCodes, LockstepError, isCrashTolerant, silentLogger, type ClientConfiguration, type ClientId, type EvidenceAnswer, type Clock, type JsonValue, type Logger, type Orderer, type ReplicaId, type Request, type View } from '@lockstep/interface'
import type { DiskLoss, EngineEffects, EngineOptions, EngineResume, EngineSnapshot, EngineStatus, LazySnapshot, RecoveredEntry } from './engine-types'
import { DurableReplies } from './durable-replies'
import { EngineInvariants } from './invariants'
import { startAsFor } from './engine-options'
import { digestInTurns } from './state-image'
import { Membership, type StartAs } from './membership'
import type { PeerMessage, PeerMessageKind, PeerMessageOf } from './peer-messages'
import { majorityOf } from './view-change/quorum'
import { OrdererChannel } from './orderer-channel'
import { RequestPath } from './request-path'
import { readDisk, type DiskContents } from './disk-contents'
import { checkedDigestVersion, type OrderDigestVersion } from './digest'
import { canTransition } from './statuses'
import { StateDigestChecks } from './state-digests'
import { isRefusal } from './refusals'
import { OutputEvidence } from './output-evidence'
import { RECENT_ORDER_BYTES, type TransferRefusal } from './state-transfer'

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
  /** The view and configuration `configuredMembers` last computed its answer from, and the answer. */
  private configuredMembersOf: { readonly view: View; readonly configuration: readonly ReplicaId[] | undefined; readonly members: readonly ReplicaId[] } | undefined
  /** Every replica this one knows of (configured, spares, admitted): where asks go, and who may send to this one. */
  private readonly replicas: Set<ReplicaId>
  /** The configuration replies carry, kept while the view and the configuration stay (see `clientConfiguration`). */
  private sentConfiguration: ClientConfiguration | undefined
  private currentStatus: EngineStatus
  private readonly membership: Membership | undefined
  private readonly channel: OrdererChannel
  /** Messages a replica sends itself (its own promise as coordinator) are handled after the current event. */
  private readonly selfQueue: PeerMessage[] = []
  /** Peers a send to was refused (a full link), with the view it happened in: no orderer message goes to them again in that view. */
  private readonly ordererCutOff = new Map<ReplicaId, number>()
  private draining = false
  /** Times the orderer lost its guarantee here (see `orderDiverged`). */
  private divergenceCount = 0
  private readonly invariants: EngineInvariants | undefined
  /** With durable storage: replies wait for a majority's disks. */
  private readonly durableReplies: DurableReplies | undefined
  /** Peers whose disks reported less than they had held (`diskLosses`). */
  private readonly seenDiskLosses: DiskLoss[] = []
  /** The orderer rests on timing assumptions: replies wait for a majority that delivered the same order. */
  private readonly confirmsOrder: boolean
  /** Without disks, with such an orderer: this replica reports its deliveries (see `reportDeliveries`). */
  private readonly reportsDeliveries: boolean
  /** State digests every `stateDigestEvery` deliveries, compared with the view's. */
  private readonly digestChecks: StateDigestChecks
  /** Own state digests taken in this event, compared once it ends (see `afterEvent`). */
  private digestsTaken: { readonly position: number; readonly digest: string }[] = []
  /** With a signer: signed reply digests, served to readers as evidence. */
  private readonly evidence: OutputEvidence | undefined

  constructor(options: EngineOptions<S>) {
    this.self = options.self
    this.effects = options.effects
    this.log = options.log ?? silentLogger
    this.clock = options.clock
    this.currentView = { id: options.view.id, members: [...options.view.members].sort() }
    this.members = new Set(this.currentView.members)
    this.replicas = new Set([...(options.replicas ?? []), ...this.currentView.members, this.self])
    const startAs = startAsFor(options as EngineOptions<unknown>)
    this.currentStatus = startAs === 'member' ? 'normal' : 'joining'
    this.invariants = options.checkInvariants ? new EngineInvariants() : undefined
    this.requests = new RequestPath(options.machine, {
      self: this.self,
      effects: { ...this.effects, sendToClient: (to, message) => (this.durableReplies ? this.durableReplies.send(to, message) : this.effects.sendToClient(to, message)) },
      log: this.log,
      status: () => this.currentStatus,
      order: (request) => this.orderer.submit(request),
      now: () => options.clock.now(),
      startingCluster: () => this.membership?.isFresh === true,
      configuration: () => this.clientConfiguration(),
      executed: (position, request) => {
        this.membership?.catchUp.transfer.recordDelivery(position, request, this.requests.replicated.orderDigest)
        this.durableReplies?.noteDigest(position, this.requests.replicated.orderDigestView)
        // The digest is of the state at exactly this position; it is sent and compared once the event ends.
        if (!this.requests.isReplaying && this.digestChecks.isCheckpoint(position)) this.digestsTaken.push({ position, digest: this.requests.replicated.digest() })
      },
      executedLive: (position, request, reply) => {
        if (reply) this.evidence?.executed(position, request, reply)
      },
      evidence: options.outputSigner && ((client, seq, incarnation) => this.answerEvidence(client, seq, incarnation)),
    }, options.sessions, options.orderDigestVersion)
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
      diverged: (reason) => this.orderDiverged(reason),
      configurationSize: () => (this.membership?.currentConfiguration ?? this.currentView.members).length,
      configuration: () => this.membership?.currentConfiguration ?? this.currentView.members,
    })
    // Replies wait for a majority's disks (durable storage), or, with an orderer that rests on timing
    // assumptions, for a majority that delivered the same order up to them (so no client takes a reply from a
    // replica whose order departed before it found out). Either way a report counts only where the reporter's
    // order is this replica's (same digest at its position): after a view change resumed the cluster from a
    // majority's older states, a member's disk may hold another branch of the order (world simulator, seed 2014).
    this.confirmsOrder = this.orderer.timingAssumptions === true
    this.durableReplies =
      options.durableReplies || this.confirmsOrder
        ? new DurableReplies({
            self: this.self,
            members: () => this.currentView.members,
            counted: () => this.configuredMembers(),
            quorum: () => majorityOf((this.membership?.currentConfiguration ?? this.currentView.members).length),
            sendToClient: (to, message) => this.effects.sendToClient(to, message),
            sendToPeer: (to, message) => this.sendPeer(to, message),
            confirmOrder: true,
            ...(options.durableReplies && { diskWentBack: (replica: ReplicaId, position: number, held: number) => this.peerDiskWentBack(replica, position, held) }),
          })
        : undefined
    this.reportsDeliveries = this.confirmsOrder && !options.durableReplies
    this.digestChecks = new StateDigestChecks(
      {
        self: this.self,
        log: this.log,
        members: () => this.currentView.members,
        send: (to, message) => this.sendPeer(to, message),
        diverged: () => this.stateDiverged(),
      },
      options.stateDigestEvery ?? 1000,
    )
    this.evidence =
      options.outputSigner &&
      new OutputEvidence({
        self: this.self,
        log: this.log,
        signer: options.outputSigner,
        window: options.evidenceWindow ?? 4096,
        members: () => this.currentView.members,
        configurationSize: () => (this.membership?.currentConfiguration ?? this.currentView.members).length,
        send: (to, message) => this.sendPeer(to, message),
      })
    this.membership = options.membership && this.createMembership(options, startAs)
    this.channel = new OrdererChannel(
      {
        self: this.self,
        log: this.log,
        view: () => this.currentView,
        isMember: (replica) => this.members.has(replica),
        orders: () => this.orders(),
        isFresh: () => this.membership?.isFresh === true,
        send: (to, message) => this.sendPeer(to, message),
        suspect: (replica) => this.membership?.detector.markUnreachable(replica),
      },
      () => this.orderer,
    )
  }

  private createMembership(options: EngineOptions<S>, startAs: StartAs): Membership {
    const orderer = this.orderer
    if (!isCrashTolerant(orderer)) {
      throw new LockstepError(ErrorCodes.INVALID_CONFIG, `orderer '${orderer.name}' does not support view changes (freeze, mergeReports, install), so it cannot be used with membership (failure detection, on by default in ReplicaHost); pass \`membership: false\` to run it without, or implement CrashTolerantOrderer`)
    }
    const host = {
      self: this.self,
      clock: this.clock,
      log: this.log,
      effects: this.effects,
      incarnation: options.incarnation ?? this.clock.now(),
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
      endView: (view: View, boundary: unknown) => this.channel.endView(orderer, view, boundary),
      forgetDurable: (replicas: readonly ReplicaId[]) => this.durableReplies?.forget(replicas),
      dropHeldReplies: () => this.durableReplies?.dropHeld(),
      orderReplaced: () => this.durableReplies?.orderReplaced(this.requests.replicated.position, this.requests.replicated.orderDigest),
      repeatDurableReport: () => this.durableReplies?.repeatOwnReport(),
      repliesWaitForMajority: () => this.durableReplies !== undefined,
      ordererCutOff: () => {
        for (const [peer, view] of this.ordererCutOff) if (view === this.currentView.id && this.members.has(peer)) return true
        return false
      },
    }
    const transfer = { chunkBytes: options.transfer?.chunkBytes ?? 1024 * 1024, window: options.transfer?.window ?? 4, suffixWindow: options.transfer?.suffixWindow ?? 4096 }
    return new Membership(host, options.membership!, startAs, transfer)
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
      if (!isRefusal(error)) throw error
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
    this.reportDeliveries()
    this.compareDigestsTaken()
  }

  /**
   * Everything needed to resume here, captured now, its bytes produced later (for durable storage: the host
   * writes it a piece at a time, between other work). A machine with `snapshotChunks` is captured in
   * O(entries); the snapshot stays the state of this instant while later requests execute.
   */
  lazySnapshot(): LazySnapshot {
    const image = this.requests.replicated.image()
    return { position: image.position, resume: this.resumeData(), image }
  }

  /** A snapshot of everything needed to resume here, whole, at once (tests, small states); see `lazySnapshot`. */
  snapshotData(): EngineSnapshot {
    const image = this.requests.replicated.image()
    const machine = image.machine instanceof Uint8Array ? image.machine : { chunks: [...image.machine.chunks] }
    return { ...this.resumeData(), ...image, machine }
  }

  /** The engine's own part of a snapshot, copied (it changes after the capture). */
  private resumeData(): EngineResume {
    const votes = this.membership?.viewChange.votes
    const commit = this.membership?.committed
    const membership = this.membership ? { configuration: this.membership.currentConfiguration, votes, ...(commit?.view.id === this.currentView.id ? { commit } : {}) } : {}
    const resume = JSON.parse(JSON.stringify({ view: this.currentView, ...membership })) as EngineResume
    // The requests kept for catch-ups go with it (fresh arrays of requests that never change: no deep copy needed).
    const recent = this.membership?.catchUp.transfer.recentOrder(this.requests.replicated.position, RECENT_ORDER_BYTES)
    return recent ? { ...resume, recent } : resume
  }

  /**
   * Restarts from a disk: restores `snapshot`, then replays the requests delivered after it (`log`, in
   * order, with the views installed and the votes cast on the way). The replica then waits, in status
   * `recovering`, to be brought back: by a live cluster (state transfer), or, when the whole cluster
   * restarted, by a view that resumes it from a majority's disks (the votes on its disk let it vote at once).
   */
  recover(snapshot: EngineSnapshot | undefined, log: readonly RecoveredEntry[]): void {
    const membership = this.requireMembership('recovering from a disk')
    const disk = readDisk(snapshot, log, this.currentView)
    if (snapshot) this.requests.replicated.restore(snapshot)
    // The requests before the snapshot's state, kept for catch-ups; those replayed next extend them.
    if (snapshot?.recent) membership.catchUp.transfer.restoreRecentOrder(snapshot.recent, this.requests.replicated.position, this.requests.replicated.orderDigest)
    // A log from position 0 continues the order digest version it was written with (earlier versions wrote 1).
    if (this.requests.replicated.position === 0 && disk.requests.length > 0) this.requests.replicated.continueOrderOf(checkedDigestVersion(disk.orderDigestVersion, `the log of replica '${this.self}'`))
    this.requests.replay(disk.requests)
    this.durableReplies?.noteDigest(this.requests.replicated.position, this.requests.replicated.orderDigest)
    this.setView(disk.view)
    membership.restoreConfiguration(disk.configuration ?? [...this.replicas].filter((r) => disk.view.members.includes(r)))
    membership.recovering(disk.votes, disk.commit)
    this.log.info(`replica '${this.self}' recovered view ${disk.view.id} at position ${this.position} from its disk`)
  }

  /**
   * Restarted from a disk damaged in the middle of its log that still tells for sure (`readDamagedDisk`) its
   * view, configuration and votes and how far it held the order (`position`), but not every request's contents.
   * Like `recover`, it waits `recovering` to be brought back and votes with its disk's votes; its state starts
   * empty, it reports its disk as damaged (so a view that resumes the cluster never starts from it, yet counts
   * how far it held the order), and it takes the state by transfer. Call before the first event.
   */
  recoverDamaged(disk: DiskContents, position: number): void {
    const membership = this.requireMembership('recovering from a damaged disk')
    if (this.currentStatus !== 'joining') throw new LockstepError(ErrorCodes.INTERNAL, `replica '${this.self}': recoverDamaged() after it started (status ${this.currentStatus})`)
    this.setView(disk.view)
    membership.restoreConfiguration(disk.configuration ?? [...this.replicas].filter((r) => disk.view.members.includes(r)))
    membership.recovering(disk.votes, disk.commit, { position })
    this.log.warn(`replica '${this.self}' recovered view ${disk.view.id} and its votes from a damaged disk that held the order up to position ${position}; it takes the state by transfer`)
  }

  /**
   * Starts without the state this replica had: its disk was damaged and set aside (not a torn tail, so requests
   * it acknowledged may sit after the damage). Like `join: true`, it asks a running cluster to add it and takes
   * the state by transfer; unlike a fresh replica, it never helps a majority of empty replicas start a new,
   * empty cluster, which would lose everything silently. Call before the first event.
   */
  startWithoutLostState(): void {
    const membership = this.requireMembership('rejoining after disk damage')
    if (this.currentStatus !== 'joining') throw new LockstepError(ErrorCodes.INTERNAL, `replica '${this.self}': startWithoutLostState() after it started (status ${this.currentStatus})`)
    membership.neverStartCluster()
  }

  /**
   * Operator command: remove `replica` from the cluster (the view and the configuration) through the same
   * majority-agreed, ordered view change as a failure. Requests it held are flushed like a crashed replica's.
   * Its requests to join are refused until an operator admits it again (`admitReplica`).
   */
  removeReplica(replica: ReplicaId): void {
    const membership = this.requireMembership('removing replicas')
    // A replica that failed and left the view is still in the configuration (its vote still counts toward every
    // majority): removing it is the usual way to give up a dead machine, so it may be removed too.
    const configured = membership.currentConfiguration.includes(replica)
    if (!this.members.has(replica) && !configured) {
      throw new LockstepError(ErrorCodes.NOT_MEMBER, `'${replica}' is neither a member of view ${this.currentView.id} (${this.currentView.members.join(', ')}) nor in the configuration (${membership.currentConfiguration.join(', ')})`)
    }
    if ((this.members.has(replica) && this.currentView.members.length === 1) || (configured && membership.currentConfiguration.length === 1)) {
      throw new LockstepError(ErrorCodes.INVALID_CONFIG, `cannot remove '${replica}': it is the last member`)
    }
    this.broadcastCommand({ kind: 'remove', replica, view: this.currentView.id })
  }

  /** Operator command: let `replica` join and enter the configuration (a spare, one removed before, or a new one). */
  admitReplica(replica: ReplicaId): void {
    this.requireMembership('admitting replicas')
    this.replicas.add(replica)
    this.broadcastCommand({ kind: 'admit', replica, view: this.currentView.id })
  }

  /**
   * The members of the current view that are in the configuration: the disks (and the orders) a reply waits for a
   * majority of. A member outside the configuration (a configured spare that joined, not admitted yet) follows the
   * order, but no majority counts it. Found by the simulator's `replace` fault (sweep seed 24000306): a spare's disk
   * counted, so a reply went out while only one of the three configured members' disks held its request; a later
   * view resumed from the other two and lost the acknowledged request. Computed again only when the view or the
   * configuration changed (asked for every reply).
   */
  private configuredMembers(): readonly ReplicaId[] {
    const view = this.currentView
    const configuration = this.membership?.currentConfiguration
    const known = this.configuredMembersOf
    if (known?.view === view && known.configuration === configuration) return known.members
    const members = configuration ? view.members.filter((member) => configuration.includes(member)) : view.members
    this.configuredMembersOf = { view, configuration, members }
    return members
  }

  private broadcastCommand(message: PeerMessage): void {
    for (const member of this.currentView.members) this.sendPeer(member, message)
    this.drainSelf()
    this.afterEvent()
  }

  /**
   * The host's disk now holds the order up to `position` (its sync covering that delivery, or the snapshot of a
   * transferred state, completed). With durable replies, the peers are told, and replies a majority's disks
   * now cover go out.
   */
  durableUpTo(position: number): void {
    if (this.durableReplies?.ownProgress(position)) this.afterEvent()
  }

  /**
   * The host could not send to `peer` (its link is full: the peer is stalled or far behind). The link is no
   * longer reliable, so the peer is treated as failed until a view change removes it; it then rejoins by
   * state transfer.
   */
  peerUnreachable(peer: ReplicaId): void {
    // The message is lost but the link goes on with the next ones: the peer would see the view's order stream
    // with a hole, and an acknowledgement sent after the lost requests would tell it that nothing stamped lower
    // is on its way (Lamport), so it delivers past them while the others deliver them: two orders (found by the
    // simulator once links refuse sends past their capacity). No orderer message goes to it again in this view.
    this.ordererCutOff.set(peer, this.currentView.id)
    if (!this.membership?.detector.markUnreachable(peer)) return
    this.log.warn(`replica '${this.self}' cannot send to '${peer}' (its link is full); it suspects it until the next view`)
  }

  // ------------------------------------------------------------- inspection

  /** The current view. */
  get view(): View {
    return this.currentView
  }

  /**
   * The peers whose disks this replica saw lose records they had synced (each time it saw it): a peer reported that
   * its disk holds the order up to `position`, after reporting that it held `held`, which a majority's disks held.
   */
  get diskLosses(): readonly DiskLoss[] {
    return this.seenDiskLosses
  }

  /** A peer's disk reported less than it held, and a majority held: it lost records it had synced (see `DurableReplies.diskClaim`). */
  private peerDiskWentBack(replica: ReplicaId, position: number, held: number): void {
    this.seenDiskLosses.push({ replica, position, held })
    const lost = held - position
    const positions = lost === 1 ? `position ${held}` : `positions ${position + 1}–${held}`
    this.log.error(
      `replica '${replica}' reports that its disk holds the order up to position ${position}, but it had reported that its disk held ${held}, which a majority's disks held: ` +
        `its storage lost ${positions}, which it had synced (acknowledged writes perhaps among them), or its data directory was restored from an older copy. ` +
        `It takes the state by transfer; what was acknowledged is kept while the other disks of a majority hold it. Unless it was restored, check the disk of '${replica}': ` +
        `it does not keep what it syncs`,
    )
  }

  /** Where this replica stands. */
  get status(): EngineStatus {
    return this.currentStatus
  }

  /** Number of requests delivered (the position of the last one). */
  get position(): number {
    return this.requests.replicated.position
  }

  /** How this replica extends its order digest (see `OrderDigestVersion`): its log records say it with each delivery. */
  get orderDigestVersion(): OrderDigestVersion {
    return this.requests.replicated.orderDigestVersion
  }

  /**
   * A digest of the whole order up to `position` (every request delivered, in order, chained): replicas with
   * equal digests at a position delivered the same requests up to it, however each came by them (delivery,
   * its disk, or a transferred state or suffix).
   */
  get orderDigest(): string {
    return this.requests.replicated.orderDigest
  }

  /** Number of requests executed here (delivered and not duplicates; not counting state transferred in). */
  get executed(): number {
    return this.requests.replicated.executed
  }

  /** Requests this replica holds that are not delivered yet (or delivered and held until a transfer). */
  get pending(): number {
    return this.orderer.pendingCount() + (this.membership?.catchUp.transfer.heldCount ?? 0)
  }

  /** What waits here, by queue: requests the orderer holds, requests held until a transfer, replies waiting for a majority. */
  get queueDepths(): { readonly orderer: number; readonly heldForTransfer: number; readonly repliesWaiting: number } {
    return { orderer: this.orderer.pendingCount(), heldForTransfer: this.membership?.catchUp.transfer.heldCount ?? 0, repliesWaiting: this.durableReplies?.waiting ?? 0 }
  }

  /** The configured replicas (the quorum is a majority of them): the view's members without membership. */
  get configuration(): readonly ReplicaId[] {
    return this.membership?.currentConfiguration ?? this.currentView.members
  }

  /**
   * What an operator reads as the configuration of `view`: the configured replicas and the id of the view they are
   * from, which is `view`'s except while this replica joins a newer view whose configuration it has not learned
   * (see `Membership.viewConfiguration`). Without membership, the view's members.
   */
  get viewConfiguration(): { readonly view: number; readonly replicas: readonly ReplicaId[] } {
    return this.membership?.viewConfiguration ?? { view: this.currentView.id, replicas: this.currentView.members }
  }

  /** The configuration as replies carry it, made again only when the view or the configuration changed. */
  private clientConfiguration(): ClientConfiguration {
    const replicas = this.configuration
    const known = this.sentConfiguration
    if (known !== undefined && known.view === this.currentView.id && known.replicas === replicas) return known
    return (this.sentConfiguration = { view: this.currentView.id, replicas })
  }

  /** Members this replica suspects now (silent too long, or unreachable); none without membership. */
  get suspected(): readonly ReplicaId[] {
    return this.membership?.detector.suspects(this.clock.now()) ?? []
  }

  /**
   * Per peer, the orderer's estimate of the peer's clock minus this replica's and the round trip of the probe
   * behind it, when the orderer keeps such estimates (the real-time orderer's `offsets()`); undefined otherwise.
   */
  get clockOffsets(): Readonly<Record<ReplicaId, { readonly offsetMs: number; readonly roundTripMs: number }>> | undefined {
    const orderer = this.orderer as Orderer & { offsets?: () => Record<ReplicaId, { offsetMs: number; roundTripMs: number }> }
    return typeof orderer.offsets === 'function' ? orderer.offsets() : undefined
  }

  /** Client sessions kept (bounded by `EngineOptions.sessions`). */
  get sessionCount(): number {
    return this.requests.replicated.sessionCount
  }

  /** The state machine's state as JSON (or its snapshot bytes' digest when it has no toJSON). */
  stateJSON(): unknown {
    return this.requests.replicated.toJSON()
  }

  /**
   * The machine's summary of its state (`StateMachine.summary`: small, public, for operators), of the state at
   * `position`; undefined when the machine has none. Throws what the machine's `summary` throws.
   */
  stateSummary(): JsonValue | undefined {
    return this.requests.replicated.summary()
  }

  /** Digest of the machine state: equal on replicas that executed the same sequence. */
  stateDigest(): string {
    return this.requests.replicated.digest()
  }

  /**
   * The digest of `stateDigest`, of the state at the position it returns, computed a megabyte per turn (it
   * awaits `nextTurn()` in between): the replica keeps ordering and answering while it hashes a large state.
   */
  async stateDigestInTurns(nextTurn: () => Promise<void>): Promise<{ readonly position: number; readonly digest: string }> {
    const { position, pieces } = this.requests.replicated.digestLater()
    return { position, digest: await digestInTurns(pieces, nextTurn) }
  }

  // ---------------------------------------------------------- peer messages

  /** One handler per peer message kind (membership's are in `Membership` and `ViewChange`). */
  private readonly handlers: { readonly [K in PeerMessageKind]: (from: ReplicaId, message: PeerMessageOf<K>, membership: Membership) => void } = {
    orderer: (from, m) => this.channel.onMessage(from, m),
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
    remove: (from, m, membership) => (this.members.has(from) ? membership.asks.remove(m.replica, m.view) : undefined),
    admit: (from, m, membership) => this.members.has(from) && (this.replicas.add(m.replica), membership.asks.admit(m.replica, m.view)),
    recover: (from, m, membership) => {
      this.durableReplies?.diskClaim(from, m.position)
      membership.onRecover(from, m)
    },
    stateRequest: (from, m, membership) => membership.catchUp.onRequest(from, m, membership.committed),
    stateChunk: (from, m, membership) => {
      if (membership.mayTakeState()) membership.catchUp.onChunk(from, m, membership.currentConfiguration, membership.committed)
    },
    stateSuffix: (_from, m, membership) => {
      if (membership.mayTakeState()) membership.catchUp.onSuffix(m, membership.currentConfiguration, membership.committed)
    },
    durable: (from, m) => this.durableReplies?.peerProgress(from, m.position, m.digest),
    replySignatures: (from, m) => this.evidence?.onSignatures(from, m.signatures),
    signatureRequest: (from, m) => (this.members.has(from) ? this.evidence?.onSignatureRequest(from, m.positions) : undefined),
    stateDigest: (from, m) => (this.members.has(from) ? this.digestChecks.onReport(from, m.position, m.digest) : undefined),
  }

  private handlePeer(from: ReplicaId, message: PeerMessage): void {
    if (!this.replicas.has(from)) {
      this.log.warn(`dropped a '${message.kind}' message from '${from}', which is not a configured replica (an operator can admit it)`)
      return
    }
    // Without membership a replica still orders, and (with an orderer that rests on timing assumptions) its
    // replies wait for the others' reports of the order they delivered.
    if (message.kind !== 'orderer' && message.kind !== 'durable' && message.kind !== 'replySignatures' && message.kind !== 'signatureRequest' && message.kind !== 'stateDigest' && !this.membership) {
      this.log.warn(`dropped a '${message.kind}' message from replica '${from}': membership changes are not enabled on this replica`)
      return
    }
    // Every replica's messages count as heard, a member's or not: a replica asking to join enters a view only once
    // its members hear it (`Membership.tick`).
    this.membership?.heardFrom(from, message)
    this.membership?.noteMessage(from, message)
    const handler = this.handlers[message.kind] as ((from: ReplicaId, message: PeerMessage, membership: Membership) => void) | undefined
    if (!handler) throw new LockstepError(ErrorCodes.MALFORMED_MESSAGE, `unknown peer message kind '${String(message.kind)}'`)
    handler(from, message, this.membership as Membership)
  }

  private replayFutureMessages(): void {
    for (const { from, message } of this.channel.takeWaiting()) this.handlePeer(from, message)
  }

  private sendPeer(to: ReplicaId, message: PeerMessage): void {
    if (to === this.self) this.selfQueue.push(message)
    else if (message.kind !== 'orderer' || this.ordererCutOff.get(to) !== message.view) this.effects.sendToPeer(to, message)
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

  private deliver(request: Request): void {
    const violation = this.invariants?.onDeliver(this.currentStatus, this.channel.flushing, this.requests.isReplaying)
    if (violation) throw new LockstepError(ErrorCodes.INTERNAL, `replica '${this.self}' broke an invariant: ${violation}`)
    if (this.currentStatus === 'transferring') this.membership!.catchUp.transfer.hold(request)
    else this.requests.execute(request, this.channel.flushing)
  }

  /** The one place the status changes; with `view`, the view changes with it. */
  private transitionTo(next: EngineStatus, view?: View): void {
    if (!canTransition(this.currentStatus, next)) {
      throw new LockstepError(ErrorCodes.INTERNAL, `replica '${this.self}': no transition from ${this.currentStatus} to ${next}`)
    }
    this.currentStatus = next
    if (view) this.setView(view)
  }

  /**
   * The orderer can no longer guarantee the order (a timing assumption broke): this replica stops serving
   * from its state, drops the replies still waiting for disks, and rejoins by state transfer (with
   * membership; without it, it stays stopped).
   */
  private orderDiverged(reason: string): void {
    this.divergenceCount++
    this.durableReplies?.dropHeld()
    // The whole state, never just the order after its own: its order's digest names requests by client, number and
    // incarnation, so it does not tell apart two copies of a retried request that entered at different replicas
    // with different agreed times, and this replica may have delivered the other copy.
    const rejoins = this.membership?.discardState({ stateWrong: true }) ?? false
    this.log.error(
      `replica '${this.self}' stops serving: its orderer can no longer guarantee the order (${reason}). ` +
        (rejoins ? 'It drops what it holds and rejoins by state transfer.' : this.membership ? 'It was not serving.' : 'Without membership it cannot rejoin: it stays stopped.'),
      { code: ErrorCodes.ORDER_DIVERGED, reason },
    )
  }

  /** How many times the orderer lost its guarantee here (see `orderDiverged`). */
  get divergences(): number {
    return this.divergenceCount
  }

  /**
   * A majority of the view reported another state digest than this replica's: its state is wrong.
   * Like `orderDiverged`, it stops serving from it, drops the replies still held and the evidence it signed, and
   * rejoins by state transfer (with membership; without it, it goes on and can only say so). Returns what it did.
   */
  private stateDiverged(): string {
    this.durableReplies?.dropHeld()
    this.evidence?.clear()
    this.digestChecks.forgetOwn()
    this.digestsTaken = []
    const rejoins = this.membership?.discardState({ stateWrong: true }) ?? false
    if (rejoins) return `It stops serving, drops what it holds and rejoins by state transfer (position ${this.position} when it stopped).`
    return this.membership ? 'It was not serving.' : 'Without membership it cannot rejoin by state transfer: restart it without its state.'
  }

  /**
   * A reader's ask for the evidence of a request's reply. A request this replica has not executed yet (another
   * replica may have answered its client first) is `pending`, not `unavailable`: the reader asks again.
   */
  private answerEvidence(client: ClientId, seq: number, incarnation: number): EvidenceAnswer {
    const answer = this.evidence!.answer(client, seq, incarnation)
    if (answer.status !== 'unavailable' || this.requests.replicated.lookup({ client, seq, incarnation, command: null }).kind !== 'new') return answer
    return { status: 'pending', client, seq, incarnation, reason: `replica '${this.self}' has not executed ${client}#${seq} (incarnation ${incarnation}) yet: ask again` }
  }

  /**
   * While this replica, transferring, takes no state because its sources hold different states and none is a
   * majority's: the view, the position, and who holds which digest (see `StateTransfer.confirm`).
   */
  get transferRefused(): TransferRefusal | undefined {
    return this.membership?.catchUp.transfer.refusal
  }

  /** Positions at which this replica's state digest differed from a majority's (it then rejoined). */
  get stateDivergences(): number {
    return this.digestChecks.divergences
  }

  /**
   * For tests and simulations only: replaces the machine's state by `corrupt(state)`, outside the order, as a
   * memory fault or a bug would. The state digests then find this replica in the minority.
   */
  corruptStateForTest(corrupt: (state: S) => S): void {
    this.requests.replicated.corruptForTest(corrupt)
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
      this.compareDigestsTaken()
      this.checkInvariants()
    } finally {
      this.membership?.settle()
    }
  }

  /** Sends and compares the state digests this event took (not during it: a divergence changes the status). */
  private compareDigestsTaken(): void {
    while (this.digestsTaken.length > 0) {
      const { position, digest } = this.digestsTaken.shift()!
      this.digestChecks.own(position, digest)
    }
  }

  /**
   * Without disks, with an orderer that rests on timing assumptions: tells the others how far this replica
   * delivered, with its order's digest there (see `DurableReplies`), once per burst of events (at the host's
   * flush, with the orderer's batch; once per event cost 8–12 % of the real-time orderer's throughput in process).
   */
  private reportDeliveries(): void {
    if (!this.reportsDeliveries || !this.durableReplies || (this.currentStatus !== 'normal' && this.currentStatus !== 'frozen')) return
    const { position, orderDigest } = this.requests.replicated
    this.durableReplies.noteDigest(position, orderDigest)
    this.durableReplies.ownProgress(position)
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
      restores: this.requests.replicated.restores,
    })
    if (violations.length > 0) throw new LockstepError(ErrorCodes.INTERNAL, `replica '${this.self}' broke an invariant: ${violations.join('; ')}`)
  }
}
