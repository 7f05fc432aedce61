import { LockstepClient } from '@lockstep/client'
import { ReplicaHost, type MembershipOptions } from '@lockstep/core'
import { ErrorCodes, LockstepError, type OrdererFactory, type StateMachine } from '@lockstep/interface'
import { memoryDurableStorage, type MemoryDurableStorage } from '@lockstep/storage-file'
import { MemoryNetwork, memoryClientTransport, memoryTransport, type LinkDelay } from '@lockstep/transport-memory'
import { SeededRandom } from './prng'
import { VirtualScheduler } from './virtual-scheduler'

/** Options of {@link SimCluster}. */
export interface SimClusterOptions {
  readonly machine: StateMachine
  readonly orderer: OrdererFactory
  /** Number of replicas in the initial view, named r1…rN. Default 3. */
  readonly replicas?: number
  /** Configured spares beyond them (rN+1, …), not started: `startSpare` adds one. Default 0. */
  readonly spares?: number
  /** Failure detection and view changes. Default: heartbeats 20 ms, suspicion after 150 ms, view-change timeout 200 ms. */
  readonly membership?: MembershipOptions
  readonly seed?: number
  /** Link delay. Default 1–5 ms. */
  readonly delay?: LinkDelay
  /**
   * Give every replica a disk (`memoryDurableStorage`, sync per batch): replies wait for it, a crash loses
   * only what was not synced, and `restartFromDisk` recovers. Default false.
   */
  readonly durable?: boolean
}

/**
 * A cluster on virtual time for scripted scenarios: crash, restart, partition
 * and heal exactly when a test says, then run the clock and look at every
 * replica. The simulator's random runs use the same parts.
 */
export class SimCluster {
  readonly scheduler = new VirtualScheduler()
  readonly network: MemoryNetwork
  /** Every configured replica, spares included. */
  readonly replicaIds: readonly string[]
  readonly initialMembers: readonly string[]
  private readonly hosts = new Map<string, ReplicaHost>()
  private readonly clients: LockstepClient[] = []
  /** Each replica's disk, kept across its crashes. */
  readonly disks = new Map<string, MemoryDurableStorage>()
  private readonly options: SimClusterOptions
  private readonly membership: MembershipOptions

  constructor(options: SimClusterOptions) {
    this.options = options
    this.membership = options.membership ?? { heartbeatMs: 20, suspectAfterMs: 150, viewChangeTimeoutMs: 200 }
    this.network = new MemoryNetwork({ scheduler: this.scheduler, random: new SeededRandom(options.seed ?? 1), delay: options.delay ?? { minMs: 1, maxMs: 5 } })
    this.replicaIds = Array.from({ length: (options.replicas ?? 3) + (options.spares ?? 0) }, (_, i) => `r${i + 1}`)
    this.initialMembers = this.replicaIds.slice(0, options.replicas ?? 3)
  }

  /** Starts every replica. */
  async start(): Promise<void> {
    for (const id of this.initialMembers) await this.startReplica(id, false)
  }

  /** Starts a configured spare; it asks to join and takes its state by transfer. */
  async startSpare(id: string): Promise<void> {
    await this.startReplica(id, true)
  }

  /** The running host of a replica (throws if it is down). */
  host(id: string): ReplicaHost {
    const host = this.hosts.get(id)
    if (!host) throw new LockstepError(ErrorCodes.INVALID_CONFIG, `replica ${id} is not running`)
    return host
  }

  /** Hosts of the running replicas. */
  running(): ReplicaHost[] {
    return [...this.hosts.values()]
  }

  /** Stops a replica at once (kill -9): it loses its memory, and what its disk had not synced. */
  async crash(id: string): Promise<void> {
    const host = this.hosts.get(id)
    this.hosts.delete(id)
    await host?.kill()
    this.disks.get(id)?.crash()
  }

  /** Starts a crashed replica again from its disk: it recovers and rejoins (or, if all are back, rebuilds the cluster). */
  async restartFromDisk(id: string): Promise<void> {
    await this.startReplica(id, false)
  }

  /** Starts a crashed replica again, without state (a new, empty disk): it asks to join and takes its state by transfer. */
  async restart(id: string): Promise<void> {
    if (this.options.durable) this.disks.set(id, memoryDurableStorage())
    await this.startReplica(id, true)
  }

  /** Cuts `side` off from the other replicas (messages wait until `heal`). */
  partition(side: readonly string[]): void {
    this.network.partition(side, this.replicaIds.filter((r) => !side.includes(r)))
  }

  /** Cuts every replica off from every other. */
  isolateAll(): void {
    for (const id of this.replicaIds) this.partition([id])
  }

  /** Restores every link. */
  heal(): void {
    this.network.heal()
  }

  /** A started client that talks to `replicas` in that order. */
  async client(id: string, replicas: readonly string[] = this.replicaIds, retryAfterMs = 200): Promise<LockstepClient> {
    const client = new LockstepClient({ id, transport: memoryClientTransport({ network: this.network, self: id, replicas: this.replicaIds }), replicas, scheduler: this.scheduler, retryAfterMs })
    await client.start()
    this.clients.push(client)
    return client
  }

  /** Runs virtual time forward by `ms`. */
  async runFor(ms: number): Promise<void> {
    const until = this.scheduler.now() + ms
    while ((this.scheduler.peekTime() ?? Infinity) <= until) {
      this.scheduler.step()
      for (let i = 0; i < 4; i++) await undefined
    }
  }

  /** Runs until `condition` holds or `maxMs` of virtual time passed; returns whether it holds. */
  async runUntil(condition: () => boolean, maxMs: number): Promise<boolean> {
    const until = this.scheduler.now() + maxMs
    while (!condition()) {
      if ((this.scheduler.peekTime() ?? Infinity) > until) return false
      this.scheduler.step()
      for (let i = 0; i < 4; i++) await undefined
    }
    return true
  }

  /** Runs virtual time until `promise` settles (at most `maxMs`), and returns its value. */
  async until<T>(promise: Promise<T>, maxMs = 60_000): Promise<T> {
    let settled = false
    const watched = promise.finally(() => (settled = true))
    if (!(await this.runUntil(() => settled, maxMs))) {
      throw new LockstepError(ErrorCodes.TIMEOUT, `SimCluster: the awaited operation did not finish within ${maxMs} ms of virtual time`)
    }
    return watched
  }

  /** True when every running replica serves in one view of all of them, at one position, with equal state. */
  converged(): boolean {
    const hosts = this.running()
    const engines = hosts.map((h) => h.engine)
    return (
      engines.every((e) => e.status === 'normal' && e.pending === 0 && e.view.members.length === hosts.length) &&
      new Set(engines.map((e) => e.view.id)).size === 1 &&
      new Set(engines.map((e) => e.position)).size === 1 &&
      new Set(engines.map((e) => e.stateDigest())).size === 1
    )
  }

  /** Stops every client and replica. */
  async stop(): Promise<void> {
    for (const client of this.clients) await client.stop()
    for (const host of this.hosts.values()) await host.stop()
    this.hosts.clear()
  }

  private async startReplica(id: string, join: boolean): Promise<void> {
    let disk = this.disks.get(id)
    if (this.options.durable && !disk) {
      disk = memoryDurableStorage()
      this.disks.set(id, disk)
    }
    const host = new ReplicaHost({
      storage: disk,
      self: id,
      replicas: this.replicaIds,
      initialMembers: this.initialMembers,
      machine: this.options.machine,
      orderer: this.options.orderer,
      transport: memoryTransport({ network: this.network, self: id, replicas: this.replicaIds }),
      scheduler: this.scheduler,
      tickMs: 5,
      checkInvariants: true,
      membership: this.membership,
      join,
    })
    this.hosts.set(id, host)
    await host.start()
  }
}
