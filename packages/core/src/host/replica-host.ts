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
  type StateMachine,
  type TimerHandle,
  type Transport,
  type View,
} from '@lockstep/interface'
import { ReplicaEngine, type MembershipOptions } from '../engine/engine'
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
    const transport = this.transport
    const sendToPeer = (to: ReplicaId, message: unknown) => {
      try {
        transport.send(to, message)
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
        sendToClient: (to, message) => transport.sendToClient(to, message),
        delivered: options.onDeliver,
        viewInstalled: options.onViewInstalled,
      },
      membership: options.membership,
      join: options.join,
      replicas: options.replicas,
    })
  }

  /** Starts the transport and the tick timer. */
  async start(): Promise<void> {
    if (this.running) return
    this.running = true
    await this.transport.start({
      onPeerMessage: (from, message) => {
        if (!this.running) return
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
    if (!this.running) return
    this.running = false
    if (this.tickTimer !== undefined) this.scheduler.clearTimer(this.tickTimer)
    this.tickTimer = undefined
    await this.transport.stop()
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
      if (this.running) this.engine.flush()
    })
  }
}
