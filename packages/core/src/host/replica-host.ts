import {
  ErrorCodes,
  LockstepError,
  isLockstepError,
  realScheduler,
  silentLogger,
  type Logger,
  type OrdererFactory,
  type RandomSource,
  type ReplicaComponents,
  type ReplicaId,
  type Request,
  type Scheduler,
  type Storage,
  type StorageDamage,
  type StorageFactory,
  type StateMachine,
  type TimerHandle,
  type Transport,
  type TransportFactory,
  type View,
} from '@lockstep/interface'
import { ReplicaEngine } from '../engine/engine'
import type { EngineOptions, MembershipOptions } from '../engine/engine-types'
import { decodePeerMessage, encodePeerMessage } from '../engine/peer-codec'
import type { PeerMessage } from '../engine/peer-messages'
import { DurableLog } from './durable-log'
import { isInternal, isRefusal } from '../engine/refusals'
import { newIncarnation } from '../engine/incarnation'
import { readDamagedDisk } from '../engine/disk-contents'
import type { OutputSigner } from '../engine/output-evidence'
import { digestOf, privateKeyObject, signOutputDigest, type KeyInput } from '@lockstep/voting'

/** Options of {@link ReplicaHost}. */
export interface ReplicaHostOptions<S> {
  readonly self: ReplicaId
  /** Every replica of the cluster configuration. */
  readonly replicas: readonly ReplicaId[]
  /** Members of the initial view (default: every replica); the others are spares an operator can add. */
  readonly initialMembers?: readonly ReplicaId[]
  readonly machine: StateMachine<S>
  readonly orderer: OrdererFactory
  /** Builds this replica's transport, e.g. `tcp(options)` or `memoryTransport(options)`; the host passes it `{ self, scheduler, log }`. */
  readonly transport: TransportFactory
  /** Clock and timers of the host and of the plug-ins it builds; default: the real ones. The simulator passes virtual time. */
  readonly scheduler?: Scheduler
  /**
   * Where the random part of this run's incarnation comes from (see `newIncarnation`): it tells this run apart from
   * an earlier one that started at the same clock reading (a clock set back or held still across a restart without
   * state). Default: the platform's cryptographic generator. The simulator passes a seeded source.
   */
  readonly random?: RandomSource
  /** How often the engine's tick runs (heartbeats, timeouts). Default 10 ms. */
  readonly tickMs?: number
  /** Where the host, the engine and the plug-ins it builds log. Default: discards. */
  readonly log?: Logger
  /** Called for every delivered request (recording, metrics). */
  readonly onDeliver?: (position: number, request: Request, executed: boolean, time: number) => void
  /** Called when a view is installed here. */
  readonly onViewInstalled?: (view: View, position: number) => void
  /** With storage: called when the disk holds the order up to `position` (after a sync, and on start). */
  readonly onDurable?: (position: number) => void
  /**
   * Called when this replica took the cluster's state up to `position`: the whole state (replacing its own, which
   * rolls back what it delivered that no majority held) or only the part of the order after its own; `sources`:
   * the replicas that served or confirmed a whole state (none for the part of the order, which it executed itself).
   */
  readonly onStateTransferred?: (position: number, wholeState: boolean, sources: readonly ReplicaId[]) => void
  /**
   * Called once when the replica stopped by itself because it cannot go on (fail-stop). `cause` says why:
   * - `'storage'`: its storage failed (a full disk, an I/O error), so answering would promise durability it does
   *   not have; `error` is the storage's error.
   * - `'engine'`: an unexpected error escaped the handling of an event (a message, a tick): a state machine's
   *   method that threw outside `apply` (a `snapshot` that cannot write a state its `apply` made), or a bug. The
   *   replica does not go on from an event it handled halfway; `error` is what was thrown.
   * The host has halted when this is called (no more messages, no replies) and said why at error level. A process
   * running one replica should exit non-zero here, so that a supervisor sees it and a health check stops passing.
   */
  readonly onFailed?: (error: Error, cause: FailureCause) => void
  /**
   * Failure detection and majority-agreed view changes, on by default: a replica silent for `suspectAfterMs`
   * (default 300 ms) is suspected, and once a majority of the view suspects it the others go on without it.
   * Needs a crash-tolerant orderer (Lamport's and the real-time one are). `false` turns it off: the replicas then
   * assume none ever fails, and one stopped replica stalls the cluster until it comes back.
   */
  readonly membership?: MembershipOptions | false
  /**
   * Ask a running cluster to add this replica instead of starting as a fresh one. Not needed: a replica that
   * starts without state (memory storage, an empty data directory) starts a new cluster only together with a
   * majority of fresh replicas, and otherwise asks to join by itself.
   */
  readonly join?: boolean
  /**
   * Builds durable storage, e.g. `fileStorage(options)`; the host passes it `{ self, scheduler, log }`.
   * Every delivered request, every view installed and every vote in a view change is appended to it. A reply goes out only once its request is on the disks of a majority of the configuration
   * (each replica syncs once per burst and tells the others how far its disk holds the order), and a vote only
   * once it is on this replica's disk. On start, a replica with something on its disk recovers it and is
   * brought back by the cluster (needs `membership`). Default: none (state lives in memory).
   */
  readonly storage?: StorageFactory
  /** Write a snapshot (and compact the log) every this many records. Default 10,000. */
  readonly snapshotEvery?: number
  /** Check the engine's invariants after every event and throw on a violation (tests, simulations). Default false. */
  readonly checkInvariants?: boolean
  /** Start as a member of the initial view that has already started (tests that skip the start). Default: fresh. */
  readonly startAsMember?: boolean
  /** Bounds of the client session table (see `EngineOptions.sessions`). */
  readonly sessions?: EngineOptions<S>['sessions']
  /** The order digest version a new history starts with (see `EngineOptions.orderDigestVersion`). */
  readonly orderDigestVersion?: EngineOptions<S>['orderDigestVersion']
  /** State transfer chunking (see `EngineOptions.transfer`). */
  readonly transfer?: EngineOptions<S>['transfer']
  /** State digests every this many deliveries, compared across the view (see `EngineOptions.stateDigestEvery`). Default 1000; 0: off. */
  readonly stateDigestEvery?: number
  /**
   * Sign reply digests (when a reader asks for a reply's evidence) with this replica's Ed25519 private key (base64 of the raw 32 bytes, as
   * `generateReplicaKeys` of `@lockstep/voting` writes it, or a KeyObject), so that readers can ask any replica for
   * a reply together with t+1 replicas' signatures and verify it with the public keys. `clusterId` is signed with
   * every statement. Default: no signing (evidence requests are answered `unavailable`).
   */
  readonly outputSigning?: { readonly clusterId: string; readonly privateKey: KeyInput }
  /** With `outputSigning`: the evidence of the last this many positions is kept. Default 4096. */
  readonly evidenceWindow?: number
}

/** The engine's signer from a replica's private key; checks the key now (a bad key fails the start, not the first reply). */
function outputSigner(self: ReplicaId, signing: { readonly clusterId: string; readonly privateKey: KeyInput }): OutputSigner {
  const { clusterId, privateKey } = signing
  if (typeof clusterId !== 'string' || clusterId === '') throw new LockstepError(ErrorCodes.INVALID_CONFIG, `replica '${self}': outputSigning.clusterId must be a non-empty string`)
  // Parsed once: building the key object from its base64 for every signed output took most of a busy replica's time.
  const key = privateKeyObject(privateKey, `replica '${self}': outputSigning.privateKey`)
  const sign: OutputSigner['sign'] = (statement) => signOutputDigest(statement, key).signature
  sign({ clusterId, replicaId: self, client: 'probe', seq: 1, incarnation: 0, position: 1, digest: digestOf(null) })
  return { clusterId, digest: digestOf, sign }
}

/** The engine's membership options: the given ones, `{}` (every default) when none are given, none with `false`. */
function membershipOf<S>(options: ReplicaHostOptions<S>): MembershipOptions | undefined {
  const { membership } = options
  if (membership === false) return undefined
  if (membership === undefined) return {}
  if (typeof membership !== 'object' || membership === null || Array.isArray(membership)) {
    throw new LockstepError(ErrorCodes.INVALID_CONFIG, `replica '${options.self}': membership must be an object of options (or false to turn failure detection off), not ${JSON.stringify(membership)}`)
  }
  return membership
}

/** How often a replica whose disk was damaged says so again, until it has rejoined. */
const DAMAGE_REPORT_EVERY_MS = 5000

/**
 * Runs one replica: feeds the engine with what the transport receives, ticks it
 * on a timer, flushes its batches once per burst of events, and keeps its
 * write-ahead log. The only code around the engine that touches time and I/O.
 */
export class ReplicaHost<S = unknown> {
  readonly engine: ReplicaEngine<S>
  private readonly transport: Transport
  private readonly scheduler: Scheduler
  private readonly tickMs: number
  private readonly log: Logger
  private tickTimer: TimerHandle | undefined
  private flushScheduled = false
  private running = false
  private readonly disk: DurableLog | undefined
  private readonly storage: Storage | undefined
  private readonly snapshotEvery: number
  /** Peer messages that follow a vote: they go out once the vote is on the disk. */
  private heldForVotes: { to: ReplicaId; message: PeerMessage; after: number }[] = []
  private syncing = false
  private readonly onDurable: ((position: number) => void) | undefined
  private readonly onStateTransferred: ((position: number, wholeState: boolean, sources: readonly ReplicaId[]) => void) | undefined
  private readonly onFailed: ((error: Error, cause: FailureCause) => void) | undefined
  /** Set once the replica stopped by itself (see `onFailed`). */
  private failed: { readonly error: Error; readonly cause: FailureCause } | undefined
  /** The damage the storage set aside at start, reported at error level until the replica has rejoined. */
  private damage: StorageDamage | undefined
  /** What the damaged disk still told for sure (its view and how far it held the order), when it did. */
  private damageClaim: { readonly view: number; readonly position: number } | undefined
  private damageTimer: TimerHandle | undefined

  constructor(options: ReplicaHostOptions<S>) {
    this.scheduler = options.scheduler ?? realScheduler()
    this.tickMs = options.tickMs ?? 10
    this.log = options.log ?? silentLogger
    this.onDurable = options.onDurable
    this.onStateTransferred = options.onStateTransferred
    this.onFailed = options.onFailed
    if (!(this.tickMs > 0)) throw new LockstepError(ErrorCodes.INVALID_CONFIG, `replica '${options.self}': tickMs must be > 0 (got ${options.tickMs})`)
    const membership = membershipOf(options)
    if (options.storage && !membership) {
      throw new LockstepError(ErrorCodes.INVALID_CONFIG, `replica '${options.self}': durable storage needs membership (recovery rejoins the cluster by view change); remove \`membership: false\``)
    }
    // The plug-ins run on this host's identity, time and logger.
    const components: ReplicaComponents = { self: options.self, scheduler: this.scheduler, log: this.log }
    this.transport = options.transport(components)
    if (this.transport.self !== options.self) {
      throw new LockstepError(ErrorCodes.INVALID_CONFIG, `replica '${options.self}' was given the transport of '${this.transport.self}'`)
    }
    const members = [...(options.initialMembers ?? options.replicas)].sort()
    this.storage = options.storage?.(components)
    // A snapshot is produced a piece at a time, one piece per turn of the event loop, between other work.
    this.disk = this.storage && new DurableLog(this.storage, { nextTurn: () => new Promise<void>((resolve) => this.scheduler.defer(resolve)) })
    this.snapshotEvery = options.snapshotEvery ?? 10_000
    const disk = this.disk
    let lastVotes = 0
    this.engine = new ReplicaEngine<S>({
      self: options.self,
      machine: options.machine,
      orderer: options.orderer,
      clock: this.scheduler,
      incarnation: newIncarnation(this.scheduler.now(), options.random ?? cryptoRandom),
      view: { id: 1, members },
      log: this.log,
      effects: {
        // Once the storage failed, nothing leaves: a message may follow a vote the disk never took.
        sendToPeer: (to, message) => {
          if (this.failed) return
          if (disk && (lastVotes > disk.durableRecord || this.heldForVotes.length > 0)) this.heldForVotes.push({ to, message, after: lastVotes })
          else this.sendToPeer(to, message)
        },
        sendToClient: (to, message) => {
          if (!this.failed) this.transport.sendToClient(to, message)
        },
        delivered: (position, request, executed, time) => {
          if (disk) this.toDisk(() => disk.appendDelivery(position, request, this.engine.orderDigestVersion))
          options.onDeliver?.(position, request, executed, time)
        },
        viewInstalled: (view, position, configuration, commit) => {
          if (disk) this.toDisk(() => disk.appendView(view, configuration, commit))
          options.onViewInstalled?.(view, position)
        },
        persistVotes: (votes) => {
          if (disk) this.toDisk(() => (lastVotes = disk.appendVotes(votes)))
        },
        stateReplaced: (position, wholeState, sources) => {
          this.onStateTransferred?.(position, wholeState, sources)
          if (!disk) return
          disk.transferred(this.engine.lazySnapshot()).then(
            () => this.afterDurable(),
            (error: unknown) => this.snapshotFailed(error, 'the snapshot of a transferred state for its disk'),
          )
        },
      },
      membership,
      join: options.join,
      startAs: options.startAsMember ? 'member' : 'fresh',
      replicas: options.replicas,
      durableReplies: this.disk !== undefined,
      checkInvariants: options.checkInvariants,
      sessions: options.sessions,
      ...(options.orderDigestVersion === undefined ? {} : { orderDigestVersion: options.orderDigestVersion }),
      transfer: options.transfer,
      stateDigestEvery: options.stateDigestEvery,
      outputSigner: options.outputSigning && outputSigner(options.self, options.outputSigning),
      evidenceWindow: options.evidenceWindow,
    })
  }

  /** Starts the transport and the tick timer; with storage, first recovers what is on disk. */
  async start(): Promise<void> {
    if (this.running) return
    if (this.disk) {
      const contents = await this.disk.open()
      if (contents.damaged) {
        // Not a torn tail: requests this replica acknowledged may have sat after the damage. It serves nothing
        // from that disk. If what is left of it still tells for sure its view, its votes and how far it held the
        // order, it reports that much while it waits to be brought back (so a cluster that lost several disks
        // can resume from one that holds everything); otherwise it comes back without state, as a joiner that
        // never starts a cluster by itself.
        this.damage = contents.damaged
        const reading = contents.aroundDamage ? readDamagedDisk(contents.aroundDamage, this.engine.view) : undefined
        if (reading?.certain) {
          this.damageClaim = { view: reading.contents.view.id, position: reading.position }
          this.engine.recoverDamaged(reading.contents, reading.position)
        } else {
          if (reading) this.log.warn(`replica '${this.engine.self}' cannot use what is left of its damaged disk: ${reading.reason}; it rejoins without state`)
          this.engine.startWithoutLostState()
        }
      } else if (contents.snapshot || contents.entries.length > 0) this.engine.recover(contents.snapshot, contents.entries)
      this.engine.durableUpTo(this.engine.position)
      this.onDurable?.(this.engine.position)
    }
    this.running = true
    await this.transport.start({
      onPeerMessage: (from, raw) => {
        if (!this.running) return
        let message: PeerMessage
        try {
          message = decodePeerMessage(from, raw)
        } catch (error) {
          this.log.warn(`replica '${this.engine.self}': dropped a message from replica '${from}': ${(error as Error).message}`)
          return
        }
        try {
          this.engine.onPeerMessage(from, message)
        } catch (error) {
          return this.engineFailed(error, `a message from replica '${from}'`)
        }
        this.scheduleFlush()
      },
      onClientMessage: (client, message) => {
        if (!this.running) return
        try {
          this.engine.onClientMessage(client, message)
        } catch (error) {
          return this.engineFailed(error, `a message from client '${client}'`)
        }
        this.scheduleFlush()
      },
    })
    this.scheduleTick()
    if (this.damage) this.reportDamage()
  }

  /**
   * Says at error level, now and every {@link DAMAGE_REPORT_EVERY_MS} until a running cluster has added this
   * replica and sent it the state, that its disk was damaged, where, and what it waits for: with every disk
   * damaged no cluster can take it back, and the log must keep saying why nothing serves.
   */
  private reportDamage(): void {
    const damage = this.damage
    if (!damage || !this.running || this.rejoinedAfterDamage(damage)) return
    const where = `${damage.file}${damage.offset === undefined ? '' : ` at byte ${damage.offset}`}`
    const claim = this.damageClaim
    const waits = claim
      ? `It held view ${claim.view} and the order up to position ${claim.position}, which it reports to the others; it serves nothing from that disk and waits for a running cluster, or for a majority of restarted replicas with an intact disk that holds as much, to send it the state.`
      : 'It holds no state and waits for a running cluster (a majority of the configuration) to add it back and send it the state; it never starts a new cluster by itself.'
    this.log.error(
      `replica '${this.engine.self}' does not serve: its disk is damaged (${where}; not a torn tail) and was set aside in ${damage.setAsideIn}. ${waits}`,
      { code: ErrorCodes.STORAGE_CORRUPT, file: damage.file, offset: damage.offset, setAsideIn: damage.setAsideIn },
    )
    this.damageTimer = this.scheduler.setTimer(DAMAGE_REPORT_EVERY_MS, () => {
      this.damageTimer = undefined
      this.reportDamage()
    })
  }

  /** Once a replica whose disk was damaged serves again, says so (once) and stops reporting the damage. */
  private rejoinedAfterDamage(damage: StorageDamage): boolean {
    if (this.engine.status !== 'normal' && this.engine.status !== 'frozen') return false
    this.log.info(`replica '${this.engine.self}' rejoined after disk damage: it took the cluster's state at position ${this.engine.position} (the damaged files stay in ${damage.setAsideIn})`)
    this.damage = undefined
    if (this.damageTimer !== undefined) this.scheduler.clearTimer(this.damageTimer)
    this.damageTimer = undefined
    return true
  }

  /**
   * Stops ticking and closes the transport (and the storage). Unlike `kill`, it first lets the records that wait for
   * a transferred state's snapshot reach the storage: a cleanly stopped replica restarts with everything it executed.
   * `{ drain: false }` closes at once and leaves them out (a simulation ends this way: its virtual time, which the
   * snapshot's write may wait on, no longer runs).
   */
  async stop(options: { readonly drain?: boolean } = {}): Promise<void> {
    if (!this.running) return
    if (options.drain !== false) await this.disk?.drain()
    if (!(await this.halt())) return
    if (this.storage) await this.storage.close()
  }

  /** Operator command: removes a replica from the cluster by a majority-agreed view change. */
  removeReplica(replica: ReplicaId): void {
    this.operatorCommand(() => this.engine.removeReplica(replica), `the operator's removal of '${replica}'`)
  }

  /**
   * Operator command: adds a replica. A configured spare (or a removed replica) only needs to be started;
   * a replica outside the configuration must be admitted here first.
   */
  admitReplica(replica: ReplicaId): void {
    this.operatorCommand(() => this.engine.admitReplica(replica), `the operator's admission of '${replica}'`)
  }

  /**
   * Runs an operator's command. One the engine refuses (a LockstepError: an unknown replica, no majority) is the
   * caller's to hear; any other error escaped the engine halfway, so the replica stops as for an event (and the
   * caller hears it too).
   */
  private operatorCommand(run: () => void, what: string): void {
    try {
      run()
    } catch (error) {
      if (isRefusal(error)) throw error
      this.engineFailed(error, what)
      throw error
    }
    this.scheduleFlush()
  }

  /**
   * Stops at once, like kill -9: no goodbye, and the storage is not closed (what it had not synced is
   * the storage's to lose). For fault tests.
   */
  async kill(): Promise<void> {
    this.heldForVotes = []
    await this.halt()
  }

  /** True between start and stop. */
  get isRunning(): boolean {
    return this.running
  }

  /** Stops ticking and closes the transport; false if it was not running. */
  private async halt(): Promise<boolean> {
    if (!this.running) return false
    this.running = false
    this.disk?.halt()
    if (this.tickTimer !== undefined) this.scheduler.clearTimer(this.tickTimer)
    this.tickTimer = undefined
    if (this.damageTimer !== undefined) this.scheduler.clearTimer(this.damageTimer)
    this.damageTimer = undefined
    await this.transport.stop()
    return true
  }

  private sendToPeer(to: ReplicaId, message: PeerMessage): void {
    try {
      this.transport.send(to, encodePeerMessage(message))
    } catch (error) {
      // A full link (BACKPRESSURE) or a vanished peer must not take this replica down.
      if (!isLockstepError(error)) throw error
      this.log.warn(`replica '${this.engine.self}': could not send to '${to}': ${error.message}`, { code: error.code })
      this.engine.peerUnreachable(to)
    }
  }

  private scheduleTick(): void {
    this.tickTimer = this.scheduler.setTimer(this.tickMs, () => {
      if (!this.running) return
      try {
        this.engine.tick()
      } catch (error) {
        return this.engineFailed(error, 'a tick')
      }
      this.scheduleFlush()
      this.scheduleTick()
    })
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return
    this.flushScheduled = true
    this.scheduler.defer(() => {
      this.flushScheduled = false
      if (!this.running) return
      try {
        this.engine.flush()
      } catch (error) {
        return this.engineFailed(error, 'the end of a burst of events')
      }
      this.syncDisk()
      // A replica whose disk was damaged says it serves again as soon as it does (not at its next damage report).
      if (this.damage) this.rejoinedAfterDamage(this.damage)
    })
  }

  /** One sync per burst (group commit); when it completes, the engine learns how far the disk holds the order. */
  private syncDisk(): void {
    const disk = this.disk
    if (!disk || this.syncing || !disk.unsynced) return
    this.syncing = true
    disk.sync().then(
      () => {
        this.syncing = false
        this.afterDurable()
        if (disk.sinceSnapshot >= this.snapshotEvery) this.snapshotToDisk(disk)
        this.syncDisk()
      },
      (error: unknown) => {
        this.syncing = false
        this.diskFailed(error)
      },
    )
  }

  /**
   * Writes a snapshot, so that the log can be compacted. The machine's part of it is made here (`snapshot`) or as it
   * is written (`snapshotChunks`): a machine that throws stops the replica as an engine failure, naming the machine,
   * not as a failed disk.
   */
  private snapshotToDisk(disk: DurableLog): void {
    let snapshot
    try {
      snapshot = this.engine.lazySnapshot()
    } catch (error) {
      return this.engineFailed(error, 'a snapshot for its disk')
    }
    disk.snapshot(snapshot).catch((error: unknown) => this.snapshotFailed(error, 'a snapshot for its disk'))
  }

  /** A snapshot for the disk failed: the machine's doing (INTERNAL, see `machineFailed`), or the disk's. */
  private snapshotFailed(error: unknown, what: string): void {
    if (isInternal(error)) this.engineFailed(error, what)
    else this.diskFailed(error)
  }

  /** The disk holds more: votes waiting for it go out, and the engine releases the replies a majority now holds. */
  private afterDurable(): void {
    if (!this.running || !this.disk) return
    const durable = this.disk.durableRecord
    const ready = this.heldForVotes.filter((m) => m.after <= durable)
    this.heldForVotes = this.heldForVotes.filter((m) => m.after > durable)
    for (const { to, message } of ready) this.sendToPeer(to, message)
    try {
      this.engine.durableUpTo(this.disk.durablePosition)
    } catch (error) {
      return this.engineFailed(error, 'the news that its disk holds more')
    }
    this.onDurable?.(this.disk.durablePosition)
    this.scheduleFlush()
  }

  /**
   * Hands a record to the storage. A storage that failed refuses it (file storage's append throws once a write
   * behind failed, before a sync reports it): the replica stops at once, instead of the error breaking off the
   * engine's handling of a message halfway and the message counting as handled.
   */
  private toDisk(append: () => void): void {
    if (this.failed) return
    try {
      append()
    } catch (error) {
      this.diskFailed(error)
    }
  }

  /**
   * The disk failed: answering now would promise durability we do not have. Stop serving, at once (the storage
   * rejects every later call, so there is nothing to drain), and tell `onFailed` once halted.
   */
  private diskFailed(error: unknown): void {
    this.failStop(error, 'storage', (failed) =>
      this.log.error(`replica '${this.engine.self}': storage failed, stopping: ${failed.message}`, { code: isLockstepError(failed) ? failed.code : ErrorCodes.STOPPED }),
    )
  }

  /**
   * An error escaped the engine's handling of an event: the engine, its orderer and its state may each be halfway
   * through it (an orderer's batch delivered in part, a vote taken and not sent). Going on from there could answer
   * from a state no other replica has, or leave the others waiting for a message that counts as handled here; so the
   * replica stops (fail-stop, as a failed assertion stops a TigerBeetle or etcd replica), says why at error level with
   * the stack, and tells `onFailed`. Restarted, it recovers from its disk (or rejoins by state transfer) like any
   * crashed replica. Closes nothing the storage holds: what it wrote is what the engine decided.
   */
  private engineFailed(error: unknown, during: string): void {
    this.failStop(error, 'engine', (failed) => {
      const { self, position, view } = this.engine
      this.log.error(
        `replica '${self}' stopped: an unexpected error while it handled ${during} at position ${position} (view ${view.id}): ${failed.message}. It does not go on from an event it handled halfway; restarted, it recovers like a crashed replica, and stops again where the same error recurs`,
        { code: ErrorCodes.INTERNAL, stack: failed.cause instanceof Error ? `${failed.stack}\ncaused by ${failed.cause.stack}` : failed.stack },
      )
    })
  }

  /**
   * The first failure stops the replica (later ones are its echoes): says why (`say`), stops serving at once (nothing
   * to drain: a failed storage rejects every later call), then tells `onFailed` once.
   */
  private failStop(error: unknown, cause: FailureCause, say: (failed: Error) => void): void {
    if (this.failed) return
    const failed = { error: error instanceof Error ? error : new Error(String(error)), cause }
    this.failed = failed
    say(failed.error)
    const told = () => this.onFailed?.(failed.error, cause)
    this.stop({ drain: false }).then(told, told)
  }

  /** Why the replica stopped by itself (see `onFailed`), or undefined while it has not. */
  get failure(): Error | undefined {
    return this.failed?.error
  }

  /** What failed when the replica stopped by itself (see `onFailed`), or undefined while it has not. */
  get failureCause(): FailureCause | undefined {
    return this.failed?.cause
  }
}

/** What made a replica stop by itself: its storage, or an error that escaped its engine (see `onFailed`). */
export type FailureCause = 'storage' | 'engine'

/** The platform's cryptographic generator as a {@link RandomSource} (Web Crypto: Node and browsers alike). */
const cryptoRandom: RandomSource = {
  next: () => globalThis.crypto.getRandomValues(new Uint32Array(1))[0]! / 2 ** 32,
}
