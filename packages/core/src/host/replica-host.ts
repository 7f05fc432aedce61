import {
  ErrorCodes,
  LockstepError,
  isLockstepError,
  silentLogger,
  type Logger,
  type OrdererFactory,
  type ReplicaId,
  type Request,
  type Scheduler,
  type Storage,
  type StateMachine,
  type TimerHandle,
  type Transport,
  type View,
} from '@lockstep/interface'
import { ReplicaEngine } from '../engine/engine'
import type { EngineSnapshot, MembershipOptions } from '../engine/engine-types'
import { decodePeerMessage, encodePeerMessage } from '../engine/peer-codec'
import type { PeerMessage } from '../engine/peer-messages'
import { decodeLogEntry, decodeSnapshot, encodeLogEntry, encodeSnapshot } from './durable-codec'
import { realScheduler } from './real-scheduler'

/** Options of {@link ReplicaHost}. */
export interface ReplicaHostOptions<S> {
  readonly self: ReplicaId
  /** Every replica of the cluster configuration. */
  readonly replicas: readonly ReplicaId[]
  /** Members of the initial view (default: every replica); the others are spares an operator can add. */
  readonly initialMembers?: readonly ReplicaId[]
  readonly machine: StateMachine<S>
  readonly orderer: OrdererFactory
  readonly transport: Transport
  /** Clock and timers; default: the real ones. The simulator passes virtual time. */
  readonly scheduler?: Scheduler
  /** How often the engine's tick runs (heartbeats, timeouts). Default 10 ms. */
  readonly tickMs?: number
  readonly log?: Logger
  /** Called for every delivered request (recording, metrics). */
  readonly onDeliver?: (position: number, request: Request, executed: boolean) => void
  /** Called when a view is installed here. */
  readonly onViewInstalled?: (view: View, position: number) => void
  /** Failure detection and majority-agreed view changes (needs a crash-tolerant orderer such as Lamport's). */
  readonly membership?: MembershipOptions
  /** Start with no state and ask the cluster to add this replica (new, or restarted without its state). */
  readonly join?: boolean
  /**
   * Durable storage. Every delivered request (and every view installed) is appended, and nothing is
   * sent to a client until the storage's `sync()` covering it resolved, so a reply means "as durable as
   * the storage's sync policy makes it". On start, a replica with something on its disk recovers it
   * (needs `membership`). Default: none (state lives in memory).
   */
  readonly storage?: Storage
  /** Write a snapshot (and compact the log) every this many records. Default 10,000. */
  readonly snapshotEvery?: number
  /** Check the engine's invariants after every event and throw on a violation (tests, simulations). Default false. */
  readonly checkInvariants?: boolean
}

/**
 * Runs one replica: feeds the engine with what the transport receives, ticks it
 * on a timer, and flushes its batches once per burst of events. The only code
 * around the engine that touches time and I/O.
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
  private readonly storage: Storage | undefined
  private readonly snapshotEvery: number
  /** Log sequence number of the last record appended (storage positions). */
  private lsn = 0
  private recordsSinceSnapshot = 0
  /** Client messages held until the records before them are durable. */
  private heldForSync: { to: string; message: unknown }[] = []
  private syncing = false
  private snapshotting = false

  constructor(options: ReplicaHostOptions<S>) {
    this.transport = options.transport
    this.scheduler = options.scheduler ?? realScheduler()
    this.tickMs = options.tickMs ?? 10
    this.log = options.log ?? silentLogger
    if (!(this.tickMs > 0)) throw new LockstepError(ErrorCodes.INVALID_CONFIG, `replica '${options.self}': tickMs must be > 0 (got ${options.tickMs})`)
    if (options.transport.self !== options.self) {
      throw new LockstepError(ErrorCodes.INVALID_CONFIG, `replica '${options.self}' was given the transport of '${options.transport.self}'`)
    }
    const members = [...(options.initialMembers ?? options.replicas)].sort()
    this.storage = options.storage
    this.snapshotEvery = options.snapshotEvery ?? 10_000
    if (this.storage && !options.membership) {
      throw new LockstepError(ErrorCodes.INVALID_CONFIG, `replica '${options.self}': durable storage needs membership options (recovery rejoins the cluster by view change)`)
    }
    const transport = this.transport
    const sendToClient = (to: string, message: unknown) => {
      if (this.storage) this.heldForSync.push({ to, message })
      else transport.sendToClient(to, message)
    }
    const sendToPeer = (to: ReplicaId, message: PeerMessage) => {
      try {
        transport.send(to, encodePeerMessage(message))
      } catch (error) {
        // A full link (BACKPRESSURE) or a vanished peer must not take this replica down.
        if (!isLockstepError(error)) throw error
        this.log.warn(`replica '${options.self}': could not send to '${to}': ${error.message}`, { code: error.code })
        this.engine.peerUnreachable(to)
      }
    }
    this.engine = new ReplicaEngine<S>({
      self: options.self,
      machine: options.machine,
      orderer: options.orderer,
      clock: this.scheduler,
      view: { id: 1, members },
      log: this.log,
      effects: {
        sendToPeer,
        sendToClient,
        delivered: (position, request, executed) => {
          if (this.storage) this.persist(encodeLogEntry({ request }))
          options.onDeliver?.(position, request, executed)
        },
        viewInstalled: (view, position) => {
          if (this.storage) {
            this.persist(encodeLogEntry({ view }))
            void this.storage.sync().catch(() => {}) // make the new view durable soon; failures surface on the next reply's sync
          }
          options.onViewInstalled?.(view, position)
        },
        stateReplaced: () => void this.writeSnapshot(),
      },
      membership: options.membership,
      join: options.join,
      replicas: options.replicas,
      checkInvariants: options.checkInvariants,
    })
  }

  /** Starts the transport and the tick timer; with storage, first recovers what is on disk. */
  async start(): Promise<void> {
    if (this.running) return
    if (this.storage) await this.recover(this.storage)
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
        this.engine.onPeerMessage(from, message)
        this.scheduleFlush()
      },
      onClientMessage: (client, message) => {
        if (!this.running) return
        this.engine.onClientMessage(client, message)
        this.scheduleFlush()
      },
    })
    this.scheduleTick()
  }

  /** Stops ticking and closes the transport. */
  async stop(): Promise<void> {
    if (!(await this.halt())) return
    if (this.storage) await this.storage.close()
  }

  /** Operator command: removes a replica from the cluster by a majority-agreed view change. */
  removeReplica(replica: ReplicaId): void {
    this.engine.removeReplica(replica)
    this.scheduleFlush()
  }

  /**
   * Operator command: adds a replica. A configured spare (or a removed replica) only needs to be started
   * with `join: true`; a replica outside the configuration must be admitted here first.
   */
  admitReplica(replica: ReplicaId): void {
    this.engine.admitReplica(replica)
    this.scheduleFlush()
  }

  /**
   * Stops at once, like kill -9: no goodbye, and the storage is not closed (what it had not synced is
   * the storage's to lose). For fault tests.
   */
  async kill(): Promise<void> {
    this.heldForSync = []
    await this.halt()
  }

  /** Stops ticking and closes the transport; false if it was not running. */
  private async halt(): Promise<boolean> {
    if (!this.running) return false
    this.running = false
    if (this.tickTimer !== undefined) this.scheduler.clearTimer(this.tickTimer)
    this.tickTimer = undefined
    await this.transport.stop()
    return true
  }

  /** True between start and stop. */
  get isRunning(): boolean {
    return this.running
  }

  private scheduleTick(): void {
    this.tickTimer = this.scheduler.setTimer(this.tickMs, () => {
      if (!this.running) return
      this.engine.tick()
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
      this.engine.flush()
      this.syncAndRelease()
    })
  }

  private async recover(storage: Storage): Promise<void> {
    const recovered = await storage.open()
    const snapshot: EngineSnapshot | undefined = recovered.snapshot ? decodeSnapshot(recovered.snapshot.data) : undefined
    this.lsn = recovered.records.at(-1)?.position ?? recovered.snapshot?.position ?? 0
    if (!snapshot && recovered.records.length === 0) {
      // An empty disk: a replica's very first start. Record that it started (its initial view) before it
      // serves, so that a restart after a crash finds a non-empty disk and recovers instead of starting afresh.
      if (this.engine.status !== 'joining') {
        this.storage!.append([{ position: ++this.lsn, data: encodeLogEntry({ view: this.engine.view }) }])
        await this.storage!.sync()
      }
      return
    }
    this.engine.recover(snapshot, recovered.records.map((r) => decodeLogEntry(r.data)))
    this.recordsSinceSnapshot = recovered.records.length
  }

  /** Appends one record (the engine emits no effects while it replays a log, so nothing is written twice). */
  private persist(data: Uint8Array): void {
    if (!this.storage) return
    this.storage.append([{ position: ++this.lsn, data }])
    this.recordsSinceSnapshot++
  }

  /** One sync per burst: client messages held before it go out once it resolves (group commit). */
  private syncAndRelease(): void {
    if (!this.storage || this.syncing || this.heldForSync.length === 0) return
    const batch = this.heldForSync
    this.heldForSync = []
    this.syncing = true
    this.storage.sync().then(
      () => {
        this.syncing = false
        if (this.running) for (const { to, message } of batch) this.transport.sendToClient(to, message)
        if (this.recordsSinceSnapshot >= this.snapshotEvery) void this.writeSnapshot()
        if (this.heldForSync.length > 0) this.syncAndRelease()
      },
      (error: unknown) => {
        this.syncing = false
        // The disk failed: answering now would promise durability we do not have. Stop serving.
        this.log.error(`replica '${this.engine.self}': storage sync failed, stopping: ${(error as Error).message}`)
        void this.stop()
      },
    )
  }

  /** Snapshots the engine at the last record and lets the storage drop the records it covers. */
  private async writeSnapshot(): Promise<void> {
    if (!this.storage || this.snapshotting) return
    this.snapshotting = true
    try {
      const position = ++this.lsn
      this.recordsSinceSnapshot = 0
      await this.storage.writeSnapshot({ position, data: encodeSnapshot(this.engine.snapshotData()) })
    } finally {
      this.snapshotting = false
    }
  }
}
