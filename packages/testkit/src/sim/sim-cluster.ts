import { LockstepClient, type ClientObserver } from '@lockstep/client'
import { generateReplicaKeys, type ReplicaKeys, type VoterFactory } from '@lockstep/voting'
import { ReplicaHost, type DiskLoss, type MembershipOptions, type ReplicaHostOptions } from '@lockstep/core'
import { ErrorCodes, LockstepError, silentLogger, type ClientTransport, type Logger, type Orderer, type OrdererFactory, type RandomSource, type ReplicaId, type Request, type StateMachine, type Storage, type TransportFactory, type View } from '@lockstep/interface'
import { memoryDurableStorage, type CrashOptions, type MemoryDurableStorage } from '@lockstep/storage-file'
import { MemoryNetwork, memoryClientTransport, memoryTransport, type LinkDelay, type NetworkObserver } from '@lockstep/transport-memory'
import { SeededRandom } from './prng'
import { lyingMachine, lyingTransport, type LieOptions } from './lying-replica'
import { checkClockOptions, ReplicaClock, type ClockOptions } from './replica-clock'
import { AWAITED_TURNS_PER_EVENT, alreadyFulfilled } from './promise-continuations'
import { VirtualScheduler } from './virtual-scheduler'
import { PauseGate } from './pause-gate'
import { describeMessage } from './message-summary'

/** Failure detection and view changes when {@link SimClusterOptions.membership} is not given. */
const defaultMembership: MembershipOptions = { heartbeatMs: 20, suspectAfterMs: 150, viewChangeTimeoutMs: 200 }

/** Watches one incarnation of a replica (see {@link SimClusterOptions.observeReplica}). */
export interface ReplicaObserver {
  /**
   * A request delivered at `position`; `executed` is false for a duplicate answered from the session table; `time`: the
   * agreed time there; `orderDigest`: the replica's digest of the whole order up to there (`ReplicaEngine.orderDigest`).
   */
  onDeliver?(position: number, request: Request, executed: boolean, time: number, orderDigest: string): void
  /** A view installed at this replica. */
  onViewInstalled?(view: View, position: number): void
  /** With `durable`: its disk holds the order up to `position`. */
  onDurable?(position: number): void
  /**
   * It took the cluster's state up to `position`: the whole state (replacing its own), or the order after its own;
   * `orderDigest`: the digest of the order up to `position` of the state it took; `sources`: the replicas whose
   * chunks or requests it took.
   */
  onStateTransferred?(position: number, wholeState: boolean, orderDigest: string, sources: readonly string[]): void
  /** This incarnation sent `message` to client `client` (a reply, an output). */
  onClientMessage?(client: string, message: unknown): void
  /** This incarnation crashed. */
  onCrash?(): void
  /** This incarnation started: `position` is how far its engine holds the order once it read its disk (0 without one). */
  onStarted?(position: number): void
}

/** Options of {@link SimCluster}. */
export interface SimClusterOptions {
  readonly machine: StateMachine
  readonly orderer: OrdererFactory
  /** Number of replicas in the initial view, named r1…rN. Default 3. */
  readonly replicas?: number
  /** Configured spares beyond them (rN+1, …), not started: `startSpare` adds one. Default 0. */
  readonly spares?: number
  /**
   * Failure detection and view changes. Default: heartbeats 20 ms, suspicion after 150 ms, view-change
   * timeout 200 ms. `false` turns them off (a fault-free run; durable replicas need them).
   */
  readonly membership?: MembershipOptions | false
  /** Seeds the network's delays when `random` is not given. Default 1. */
  readonly seed?: number
  /** The network's source of randomness (delays, reordering). Default: `new SeededRandom(seed)`. */
  readonly random?: RandomSource
  /** Link delay. Default 1–5 ms. */
  readonly delay?: LinkDelay
  /**
   * Give every replica a disk (`memoryDurableStorage`, sync per batch): replies wait for it, a crash loses
   * only what was not synced, and `restartFromDisk` recovers. Default false.
   */
  readonly durable?: boolean
  /**
   * Engine settings every replica gets: the session table's bounds, state transfer chunking, state digests
   * (`stateDigestEvery`), the evidence kept (`evidenceWindow`), snapshots (`snapshotEvery`), the order digest
   * version of a new history (`orderDigestVersion`). Read at every start of a replica, so a getter can change
   * a setting between runs (a cluster upgraded to a version with other defaults).
   */
  readonly engine?: Pick<ReplicaHostOptions<unknown>, 'sessions' | 'transfer' | 'stateDigestEvery' | 'evidenceWindow' | 'snapshotEvery' | 'orderDigestVersion'>
  /**
   * Give every replica an Ed25519 key pair (made once per cluster, kept across restarts) and have it sign the
   * digests of its replies (on demand), so readers can ask any replica for a reply's evidence (`LockstepClient.verifiedReply`)
   * and verify it with {@link SimCluster.publicKeys} and {@link SimCluster.clusterId}. Default false.
   */
  readonly signOutputs?: boolean
  /**
   * With `durable`: how long each sync of a disk takes, in virtual milliseconds, asked once per sync (a
   * simulation draws it from its seed). Default: none (a sync completes in the same instant).
   */
  readonly syncLatencyMs?: () => number
  /** Receives every replica's log lines, stamped with virtual time and the replica's name (for debugging). */
  readonly trace?: (line: string) => void
  /**
   * Give each replica its own clock, its offset and drift drawn from `clockRandom` (see {@link ClockOptions}):
   * the engine, the orderer and the host read it; timers still run on the shared virtual time. Default: every
   * clock reads the virtual time exactly. Either way `clock(id)` returns a replica's clock, to set its offset.
   */
  readonly clocks?: ClockOptions
  /** Draws the clocks' offsets and drifts. Default: a source seeded from `seed`, apart from the network's. */
  readonly clockRandom?: RandomSource
  /**
   * Draws the random part of each replica run's incarnation (`ReplicaHost`'s `random`), as a real host draws it
   * from its cryptographic generator. Default: a source seeded from `seed`, apart from the others.
   */
  readonly incarnationRandom?: RandomSource
  /**
   * Called as a replica starts, first with incarnation 0, then once per restart; the hooks it returns
   * watch that incarnation until it crashes.
   */
  readonly observeReplica?: (replica: ReplicaId, incarnation: number) => ReplicaObserver
  /**
   * Replicas that lie, for testing voting: each with how (see {@link LieOptions}). An observer's
   * `onClientMessage` sees what the replica's engine sent, before the lie.
   */
  readonly liars?: Readonly<Record<ReplicaId, LieOptions>>
  /** Sees every message on the network (a trace: see `simulate`'s `record`). Default none. */
  readonly network?: NetworkObserver
  /**
   * Most messages a link between replicas holds on their way before sends on it are refused with BACKPRESSURE,
   * as a TCP link refuses them past its buffer while the peer is stalled or cut off. Default: no limit.
   */
  readonly linkCapacity?: number
  /**
   * Links between replicas hold what was on its way to a crashed replica, and what is sent to it while it is down,
   * for its next run, as the TCP transport's reliable links send a restarted peer everything they hold
   * unacknowledged: a restarted replica may first hear what its peers said to its earlier run (see
   * `MemoryNetworkOptions.holdForRestart`). Default false: a crash loses everything in flight to it.
   */
  readonly heldForRestart?: boolean
  /**
   * Each link between replicas first connects at a virtual time drawn (from a source of its own, seeded by `seed`)
   * between 0 and this many ms, as TCP connections may take a while to set up: what is sent on it earlier waits.
   * Default 0: every link is up at once.
   */
  readonly connectDelayMaxMs?: number
  /** Draws the links' connect times (see `connectDelayMaxMs`). Default: a source seeded from `seed`. */
  readonly connectRandom?: RandomSource
  /** Each link's first connect time, given (a scripted scenario); overrides `connectDelayMaxMs`. See `MemoryNetworkOptions.connectsAt`. */
  readonly connectsAt?: (from: string, to: string) => number
  /** Called after each event the cluster runs (and the promise continuations it started), to look at the replicas. */
  readonly afterEvent?: () => void
  /**
   * What happens when an error escapes a replica's engine (a state machine's `snapshot` that throws, an invariant
   * that fails, a bug): the replica stops by itself (fail-stop, as `ReplicaHost` does everywhere). `'throw'` (the
   * default): running the cluster on throws that error, with its stack, so a test fails on it at once. `'keep'`: it
   * is kept in `failures` (a simulation reports it as a violation) and the others go on without that replica.
   */
  readonly engineFailures?: 'throw' | 'keep'
}

/** Options of {@link SimCluster.client}. */
export interface SimClientOptions {
  /** Replicas to talk to, in order of preference. Default: every configured replica. */
  readonly replicas?: readonly string[]
  /** Sees every message a replica sends this client, before the client handles it (which replica answered). */
  readonly onMessage?: (from: ReplicaId, message: unknown) => void
  /** Virtual time before a request is retried at the next replica. Default 200 ms. */
  readonly retryAfterMs?: number
  /** Sees each request as it is submitted and as its reply arrives. */
  readonly observer?: ClientObserver
  /** This run of the client id (a restarted client uses a higher one). Default: the virtual time, in whole ms. */
  readonly incarnation?: number
  /** How the client votes on the replicas' answers (see `ClientOptions.voter`). Default: the first answer wins. */
  readonly voter?: VoterFactory
}

/** A running replica: its host and the hooks watching this incarnation. */
interface RunningReplica {
  readonly host: ReplicaHost
  readonly observer: ReplicaObserver | undefined
  /** It started with something on its disk (it recovers); false for a start without state. */
  readonly fromDisk: boolean
  /** Its view of the disk: cut off when the run crashes (see `runDisk`). */
  readonly run: { gone: boolean }
}

/**
 * A cluster on virtual time: N replicas over the memory network, their disks, clients, and the clock that
 * drives them. Scripted scenarios crash, restart, partition and heal exactly when a test says, then run the
 * clock and look at every replica; `simulate` drives the same cluster with faults and workloads drawn from
 * a seed.
 */
export class SimCluster {
  readonly scheduler = new VirtualScheduler()
  readonly network: MemoryNetwork
  /** Every configured replica, spares included. */
  readonly replicaIds: readonly string[]
  readonly initialMembers: readonly string[]
  /** The configuration an operator means the cluster to have: see {@link members}. */
  private roster: string[]
  private readonly replicas = new Map<string, RunningReplica>()
  /** How many times each replica was started: the next start's incarnation number. */
  private readonly starts = new Map<string, number>()
  private readonly clients: LockstepClient[] = []
  /** Each replica's disk, kept across its crashes. */
  readonly disks = new Map<string, MemoryDurableStorage>()
  private readonly options: SimClusterOptions
  private readonly membership: MembershipOptions | undefined
  /** Each configured replica's clock, kept across its restarts. */
  private readonly clocks = new Map<string, ReplicaClock>()
  /** Each configured replica's pause gate (see {@link pause}), kept across its restarts. */
  private readonly gates = new Map<string, PauseGate>()
  /** Every orderer built, by replica, in the order they were built (one per incarnation). */
  private readonly orderers: { readonly replica: string; readonly orderer: Orderer }[] = []
  /** Orderer divergences in a replica outside its configuration, by replica (see {@link divergencesOutsideConfiguration}). */
  private readonly outsideDivergences: Record<string, number> = {}
  /** Every host started, crashed ones included (their engines keep their counters). */
  private readonly hosts: ReplicaHost[] = []
  /** The cluster id replicas sign their reply digests with (see {@link SimClusterOptions.signOutputs}). */
  readonly clusterId = 'sim'
  /** With `signOutputs`: each configured replica's key pair. */
  private readonly keys = new Map<ReplicaId, ReplicaKeys>()
  /** Draws the random part of every replica run's incarnation. */
  private readonly incarnationRandom: RandomSource

  constructor(options: SimClusterOptions) {
    this.options = options
    this.membership = options.membership === false ? undefined : (options.membership ?? defaultMembership)
    this.incarnationRandom = options.incarnationRandom ?? new SeededRandom(((options.seed ?? 1) ^ 0x1b873593) >>> 0)
    this.replicaIds = Array.from({ length: (options.replicas ?? 3) + (options.spares ?? 0) }, (_, i) => `r${i + 1}`)
    const replicaSet = new Set(this.replicaIds)
    const connectRandom = (options.connectDelayMaxMs ?? 0) > 0 ? (options.connectRandom ?? new SeededRandom(((options.seed ?? 1) ^ 0x636f6e6e) >>> 0)) : undefined
    this.network = new MemoryNetwork({
      scheduler: this.scheduler,
      random: options.random ?? new SeededRandom(options.seed ?? 1),
      delay: options.delay ?? { minMs: 1, maxMs: 5 },
      observer: options.network,
      ...(options.linkCapacity !== undefined && { maxInFlightPerLink: options.linkCapacity, limitsLink: (from: string, to: string) => replicaSet.has(from) && replicaSet.has(to) }),
      ...(options.heldForRestart === true && { holdForRestart: (from: string, to: string) => replicaSet.has(from) && replicaSet.has(to) }),
      ...(options.connectsAt && { connectsAt: options.connectsAt }),
      ...(!options.connectsAt && connectRandom && { connectsAt: (from: string, to: string) => (replicaSet.has(from) && replicaSet.has(to) ? connectRandom.next() * options.connectDelayMaxMs! : 0) }),
    })
    this.initialMembers = this.replicaIds.slice(0, options.replicas ?? 3)
    this.roster = [...this.initialMembers]
    const { maxOffsetMs = 0, maxDriftPpm = 0 } = options.clocks ?? {}
    if (options.clocks) checkClockOptions(options.clocks)
    // Drawn only when asked for, so that runs without clocks draw exactly what they always did.
    const random = maxOffsetMs > 0 || maxDriftPpm > 0 ? (options.clockRandom ?? new SeededRandom(((options.seed ?? 1) ^ 0x5bd1e995) >>> 0)) : undefined
    const draw = (max: number) => (random && max > 0 ? (random.next() * 2 - 1) * max : 0)
    for (const id of this.replicaIds) {
      const offsetMs = draw(maxOffsetMs)
      this.clocks.set(id, new ReplicaClock(this.scheduler, offsetMs, draw(maxDriftPpm)))
      this.gates.set(id, new PauseGate())
    }
  }

  /** A replica's clock (its engine, orderer and host read it; it survives restarts): tests set its offset. */
  clock(id: string): ReplicaClock {
    const clock = this.clocks.get(id)
    if (!clock) throw new LockstepError(ErrorCodes.INVALID_CONFIG, `SimCluster: no replica '${id}' (configured: ${this.replicaIds.join(', ')})`)
    return clock
  }

  /** How long the replica clock held still longest (set back by a skew) takes to run again; 0 when every clock runs. */
  clocksHeldMs(): number {
    return Math.max(0, ...[...this.clocks.values()].map((clock) => clock.heldMs()))
  }

  /**
   * The orderers' counters summed over every orderer built (every incarnation of every replica), for orderers
   * with a `stats()` of numbers (the real-time orderer's `timingViolations`, `skewViolations`, …); empty otherwise.
   */
  ordererStats(): Record<string, number> {
    const sums: Record<string, number> = {}
    for (const { orderer } of this.orderers) {
      const stats = (orderer as Partial<{ stats(): unknown }>).stats
      if (typeof stats !== 'function') continue
      const values = stats.call(orderer) as Record<string, unknown>
      for (const [name, value] of Object.entries(values)) if (typeof value === 'number') sums[name] = (sums[name] ?? 0) + value
    }
    return sums
  }

  /** True if an orderer built here rests on timing assumptions (`Orderer.timingAssumptions`: real-time ordering). */
  ordersOnTiming(): boolean {
    return this.orderers.some(({ orderer }) => orderer.timingAssumptions === true)
  }

  /** How many times an orderer lost its guarantee (`OrdererContext.diverged`), per replica, over all its runs. */
  divergences(): Record<string, number> {
    const counts: Record<string, number> = {}
    for (const host of this.hosts) if (host.engine.divergences > 0) counts[host.engine.self] = (counts[host.engine.self] ?? 0) + host.engine.divergences
    return counts
  }

  /**
   * Each time a replica (any of its runs) saw a peer's disk report less of the order than it had reported holding
   * (`ReplicaEngine.diskLosses`): `r1 saw r3's disk at 11 after 15`.
   */
  diskLosses(): string[] {
    return this.diskLossReports().map(describeDiskLoss)
  }

  /** The same as {@link diskLosses}, each with the replica that said it (`by`). */
  diskLossReports(): (DiskLoss & { readonly by: string })[] {
    return this.hosts.flatMap((host) => host.engine.diskLosses.map((loss) => ({ ...loss, by: host.engine.self })))
  }

  /**
   * How many times an orderer lost its guarantee in a replica outside its own configuration at that moment (a spare
   * not admitted yet, or a replica removed), per replica: a spare whose clock is off must find out before it is
   * admitted (the `spare-clock` fault).
   */
  divergencesOutsideConfiguration(): Record<string, number> {
    return { ...this.outsideDivergences }
  }

  /** Starts every replica. */
  async start(): Promise<void> {
    for (const id of this.initialMembers) await this.startReplica(id, false)
  }

  /** Starts a configured spare; it asks to join and takes its state by transfer. */
  async startSpare(id: string): Promise<void> {
    await this.startReplica(id, true)
  }

  /**
   * The replicas an operator means to be the configuration, in configuration order: the initial members, each one
   * an operator replaced (see {@link replaceMember}) swapped for its replacement. The fault budget, the operator and
   * the simulator's liveness checks count these; a replaced replica is nobody's concern any more (but must stay out).
   */
  get members(): readonly string[] {
    return this.roster
  }

  /** True once replica `id` was started (it may have crashed since). */
  hasStarted(id: string): boolean {
    return this.starts.has(id)
  }

  /** The configured spares never started yet, in configuration order: the machines an operator may bring in. */
  unstartedSpares(): string[] {
    return this.replicaIds.filter((id) => !this.initialMembers.includes(id) && !this.hasStarted(id))
  }

  /** An operator's replacement of `replaced` by the spare `replacement` took effect: `members` has the one for the other. */
  replaceMember(replaced: string, replacement: string): void {
    const at = this.roster.indexOf(replaced)
    if (at < 0 || this.roster.includes(replacement)) throw new LockstepError(ErrorCodes.INVALID_CONFIG, `SimCluster: cannot replace '${replaced}' by '${replacement}' (members: ${this.roster.join(', ')})`)
    this.roster[at] = replacement
  }

  /**
   * With `signOutputs`: the public key of every configured replica (base64, as in a cluster configuration), for
   * readers that verify evidence; each replica's pair is made when it first starts, so every one of them must have
   * started once. Empty without `signOutputs`.
   */
  get publicKeys(): Readonly<Record<ReplicaId, string>> {
    return Object.fromEntries([...this.keys].map(([replica, pair]) => [replica, pair.publicKey]))
  }

  /** The running host of a replica (throws if it is down). */
  host(id: string): ReplicaHost {
    const replica = this.replicas.get(id)
    if (!replica) throw new LockstepError(ErrorCodes.INVALID_CONFIG, `replica ${id} is not running`)
    return replica.host
  }

  /** Hosts of the running replicas, in configuration order. */
  running(): ReplicaHost[] {
    const hosts: ReplicaHost[] = []
    for (const id of this.replicaIds) {
      const replica = this.replicas.get(id)
      if (replica) hosts.push(replica.host)
    }
    return hosts
  }

  /** Errors of work started in the background (a kill, a restart from a timer): `simulate` reports them. */
  readonly failures: string[] = []
  /** With `engineFailures: 'keep'`: the replicas that stopped on an unexpected error, as kept in `failures` too. */
  readonly stoppedOnErrors: string[] = []
  /**
   * Fail-stop broken: a run of a replica sent a message after it stopped by itself (its storage refused a write, or
   * an unexpected error), once per run. Nothing may leave then: the message may follow a vote its disk never took.
   */
  readonly sentAfterStop: string[] = []
  /** A replica's engine failed (see `engineFailures`, `'throw'`): the cluster's next step throws it. */
  private engineError: Error | undefined

  /** Runs `work` without waiting for it; a failure is kept in `failures`, never left unhandled. */
  background(what: string, work: Promise<unknown>): void {
    work.catch((error: unknown) => this.failures.push(`${what}: ${(error as Error).message}`))
  }

  /** True while `id` runs (started, and not crashed or stopped since). */
  isRunning(id: string): boolean {
    return this.replicas.has(id)
  }

  /**
   * Stops a replica at once (kill -9): it loses its memory, and what its disk had not synced once it stopped (with
   * `disk`, what the disk does in the crash: `loseSynced` makes it lose synced records as well).
   */
  async crash(id: string, disk?: CrashOptions): Promise<void> {
    const replica = this.replicas.get(id)
    this.replicas.delete(id)
    if (replica) replica.run.gone = true
    replica?.observer?.onCrash?.()
    await replica?.host.kill()
    this.disks.get(id)?.crash(disk)
  }

  /**
   * Crashes a running replica within the current event (a fault injected from a timer): its disk loses what
   * it had not synced at this instant, before a sync in flight can complete (with `disk`, what else the disk does in
   * the crash: `loseSynced` makes it lose synced records as well). No-op if it is down.
   */
  crashNow(id: string, disk?: CrashOptions): void {
    const replica = this.replicas.get(id)
    if (!replica) return
    this.replicas.delete(id)
    replica.run.gone = true
    this.gates.get(id)!.drop()
    replica.observer?.onCrash?.()
    this.background(`killing ${id}`, replica.host.kill())
    this.disks.get(id)?.crash(disk)
  }

  /**
   * The highest log sequence number `id`'s (simulated) disk holds synced (`MemoryDurableStorage.durablePosition`: records
   * and snapshots as its host numbered them, not positions of the order); 0 without one.
   */
  diskPosition(id: string): number {
    return this.disks.get(id)?.durablePosition() ?? 0
  }

  /**
   * Pauses replica `id`, as `kill -STOP` or a long stop-the-world pause would: none of its code runs (timers,
   * deferred work, its disk's completions, the messages that reach it are held) until {@link resume}, while its
   * clock and everyone else go on. A paused replica is faulty. Does nothing to a replica that is not running.
   */
  pause(id: string): void {
    if (this.replicas.has(id)) this.gates.get(id)!.pause()
  }

  /** Resumes a paused replica: what it missed runs at once, in the order it came due (see {@link PauseGate}). */
  resume(id: string): void {
    this.gates.get(id)?.resume()
  }

  /** True while replica `id` is paused. */
  isPaused(id: string): boolean {
    return this.gates.get(id)?.paused ?? false
  }

  /** Starts a crashed replica again from its disk: it recovers and rejoins (or, if all are back, rebuilds the cluster). */
  async restartFromDisk(id: string): Promise<void> {
    await this.startReplica(id, false)
  }

  /**
   * Starts a crashed replica again with a wiped disk (nothing, without `durable`), exactly as it was first
   * started: no join flag. It finds out by itself that the cluster runs without it, asks to join, and must not
   * vote or count toward a majority until it has the cluster's state again.
   */
  async restartWithAmnesia(id: string): Promise<void> {
    if (this.options.durable) this.disks.set(id, this.newDisk(id))
    await this.startReplica(id, false)
  }

  /** True if the replicas keep their state on (simulated) disks. */
  get durable(): boolean {
    return this.options.durable === true
  }

  /** True when `id` runs and is taking the cluster's state (status joining or transferring): it holds none to serve from. */
  isTakingState(id: string): boolean {
    const status = this.replicas.get(id)?.host.engine.status
    return status === 'joining' || status === 'transferring'
  }

  /** True when `id` runs and serves: status normal, in a view that includes it. */
  isServing(id: string): boolean {
    const host = this.replicas.get(id)?.host
    return host !== undefined && host.engine.status === 'normal' && host.engine.view.members.includes(id)
  }

  /** True when `id` runs and its current run started with something on its disk (it recovered from it). */
  startedFromDisk(id: string): boolean {
    return this.replicas.get(id)?.fromDisk === true
  }

  /** Starts a crashed replica again, without state (a new, empty disk): it asks to join and takes its state by transfer. */
  async restart(id: string): Promise<void> {
    if (this.options.durable) this.disks.set(id, this.newDisk(id))
    await this.startReplica(id, true)
  }

  /**
   * Starts a crashed replica again with whatever its disk kept (nothing without `durable`), asking the
   * cluster to add it back: a supervisor restarting the process with its usual command line.
   */
  async rejoin(id: string): Promise<void> {
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

  /**
   * A started client. Pass the replicas to talk to (in that order) and the retry interval, or options with
   * an observer as well.
   */
  async client(id: string, replicas?: readonly string[], retryAfterMs?: number): Promise<LockstepClient>
  async client(id: string, options: SimClientOptions): Promise<LockstepClient>
  async client(id: string, replicasOrOptions: readonly string[] | SimClientOptions = {}, retryAfterMs?: number): Promise<LockstepClient> {
    const options: SimClientOptions = isReplicaList(replicasOrOptions) ? { replicas: replicasOrOptions, retryAfterMs } : replicasOrOptions
    const transport = memoryClientTransport({ network: this.network, replicas: this.replicaIds })
    const { onMessage } = options
    const client = new LockstepClient({
      id,
      transport: onMessage ? (components) => watchedClientTransport(transport(components), onMessage) : transport,
      replicas: options.replicas ?? this.replicaIds,
      scheduler: this.scheduler,
      retryAfterMs: options.retryAfterMs ?? 200,
      observer: options.observer,
      incarnation: options.incarnation,
      voter: options.voter,
    })
    await client.start()
    this.clients.push(client)
    return client
  }

  /** Runs virtual time forward by `ms`. */
  runFor(ms: number): Promise<void> {
    const until = this.scheduler.now() + ms
    return this.runWhile(() => (this.scheduler.peekTime() ?? Infinity) <= until)
  }

  /** Runs until `condition` holds or `maxMs` of virtual time passed; returns whether it holds. */
  async runUntil(condition: () => boolean, maxMs: number): Promise<boolean> {
    const until = this.scheduler.now() + maxMs
    await this.runWhile(() => !condition() && (this.scheduler.peekTime() ?? Infinity) <= until)
    return condition()
  }

  /**
   * Runs events one at a time while `condition` holds and events remain. Unlike `runUntil` it has no time
   * bound of its own: a condition that reads the clock runs the event that crosses its bound, then stops. The one
   * loop that runs events (`runFor` and `runUntil` use it): after each, the continuations it set off run (see
   * `runPromiseContinuations`), awaited inline, without an async call per event.
   */
  async runWhile(condition: () => boolean): Promise<void> {
    while (condition()) {
      if (!this.scheduler.step()) break
      for (let turn = 0; turn < AWAITED_TURNS_PER_EVENT; turn++) await alreadyFulfilled
      if (this.engineError) {
        const error = this.engineError
        this.engineError = undefined
        throw error
      }
      this.options.afterEvent?.()
    }
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

  /**
   * What each configured replica is doing, for violation messages and traces:
   * `r1 normal in view 5 {r1,r2} at 120 (3 pending); r3 down`.
   */
  describe(): string {
    return this.replicaIds
      .map((id) => {
        const host = this.replicas.get(id)?.host
        if (!host) return `${id} down`
        const { engine } = host
        const pending = engine.pending > 0 ? ` (${engine.pending} pending)` : ''
        return `${id} ${engine.status} in view ${engine.view.id} {${engine.view.members.join(',')}} at ${engine.position}${pending}`
      })
      .join('; ')
  }

  /**
   * Stops every client, then every replica (in configuration order), without waiting for snapshots still being
   * written: virtual time does not run while it waits (see `ReplicaHost.stop`).
   */
  async stop(): Promise<void> {
    // A paused replica would never finish stopping (its disk's completions wait for it): resume it first.
    for (const gate of this.gates.values()) gate.resume()
    for (const client of this.clients) await client.stop()
    for (const host of this.running()) await host.stop({ drain: false })
    this.replicas.clear()
  }

  private newDisk(id: string): MemoryDurableStorage {
    const latency = this.options.syncLatencyMs
    // Its completions reach a paused replica when it resumes.
    return memoryDurableStorage(latency ? { syncLatencyMs: latency } : {})({ self: id, scheduler: this.gates.get(id)!.scheduler(this.scheduler), log: silentLogger })
  }

  private async startReplica(id: string, join: boolean): Promise<void> {
    let disk = this.disks.get(id)
    if (this.options.durable && !disk) {
      disk = this.newDisk(id)
      this.disks.set(id, disk)
    }
    const durable = disk?.durable()
    const fromDisk = durable !== undefined && (durable.snapshot !== undefined || durable.records.length > 0)
    const incarnation = this.starts.get(id) ?? 0
    this.starts.set(id, incarnation + 1)
    const observer = this.options.observeReplica?.(id, incarnation)
    // The disk outlives this incarnation: the host is given a factory that returns this run's view of it.
    const run = { gone: false }
    const kept = disk && runDisk(disk, run)
    const { orderer } = this.options
    const lie = this.options.liars?.[id]
    let keys = this.keys.get(id)
    if (this.options.signOutputs && !keys) this.keys.set(id, (keys = generateReplicaKeys()))
    const network = memoryTransport({ network: this.network, replicas: this.replicaIds })
    const gate = this.gates.get(id)!
    const host: ReplicaHost = new ReplicaHost({
      storage: kept && (() => kept),
      self: id,
      replicas: this.replicaIds,
      initialMembers: this.initialMembers,
      machine: lie?.mode === 'state' ? lyingMachine(this.options.machine, lie) : this.options.machine,
      orderer: (ctx) => {
        // The engine's context, with its `diverged` watched: where the replica stood (see `divergencesOutsideConfiguration`).
        const built = orderer({
          ...ctx,
          diverged: (reason) => {
            if (!(ctx.configuration?.() ?? ctx.view().members).includes(id)) this.outsideDivergences[id] = (this.outsideDivergences[id] ?? 0) + 1
            ctx.diverged?.(reason)
          },
        })
        this.orderers.push({ replica: id, orderer: built })
        return built
      },
      transport: gate.transport(
        stoppedSendsNothing(watchedTransport(lie && lie.mode !== 'state' ? lyingTransport(network, lie) : network, observer), () => host.failure, (to, message) => {
          const what = describeMessage(id, to, message, (replica) => this.replicaIds.includes(replica))
          this.sentAfterStop.push(`replica ${id} (run ${incarnation}) sent ${what.kind === 'malformed' ? 'a message' : `'${what.kind}'`} to ${to} after it stopped (${host.failure?.message ?? 'a failure'}); nothing may leave a replica that stopped`)
        }),
      ),
      // The replica reads its own clock; its timers run on the shared virtual time, through its pause gate.
      scheduler: gate.scheduler(this.clock(id).scheduler(this.scheduler)),
      random: this.incarnationRandom,
      tickMs: 5,
      checkInvariants: true,
      ...this.options.engine,
      ...(keys ? { outputSigning: { clusterId: this.clusterId, privateKey: keys.privateKey } } : {}),
      // Explicit either way: without membership options a ReplicaHost detects failures with its own defaults.
      membership: this.membership ?? false,
      // A spare is in no initial view: every start of it asks to join (an operator's replacement admitted it, or will).
      join: join || !this.initialMembers.includes(id),
      log: this.options.trace ? traceLogger(this.options.trace, id, () => this.scheduler.now()) : undefined,
      onDeliver: observer?.onDeliver ? (position, request, executed, time) => observer.onDeliver!(position, request, executed, time, host.engine.orderDigest) : undefined,
      onViewInstalled: observer?.onViewInstalled ? (view, position) => observer.onViewInstalled!(view, position) : undefined,
      onDurable: observer?.onDurable ? (position) => observer.onDurable!(position) : undefined,
      onStateTransferred: observer?.onStateTransferred ? (position, wholeState, sources) => observer.onStateTransferred!(position, wholeState, host.engine.orderDigest, sources) : undefined,
      onFailed: (error, cause) => {
        if (cause !== 'engine') return // a storage fault a test put there (MemoryDurableStorage.fill): `host.failure` tells it
        if (this.options.engineFailures === 'keep') {
          const failure = `replica ${id} stopped on an unexpected error: ${error.message}`
          this.failures.push(failure)
          this.stoppedOnErrors.push(failure)
        } else this.engineError ??= error
      },
    })
    this.replicas.set(id, { host, observer, fromDisk, run })
    this.hosts.push(host)
    await host.start()
    observer?.onStarted?.(host.engine.position)
  }
}

/**
 * One run's view of a disk that outlives it: once the run crashed, nothing it still has under way reaches the disk
 * (its process is gone), which the next run may have opened. Found (the `full` fault, seed 63): a run that stopped on
 * its full disk was still stopping when the operator started the next one, and its late `close` closed the disk under
 * its successor, which then stopped on a storage that was not open.
 */
function runDisk(disk: Storage, run: { readonly gone: boolean }): Storage {
  const gone = () => new LockstepError(ErrorCodes.STOPPED, 'this run of the replica crashed: its disk is not its own any more')
  return {
    open: () => (run.gone ? Promise.reject(gone()) : disk.open()),
    append: (records) => {
      if (run.gone) throw gone()
      disk.append(records)
    },
    sync: () => (run.gone ? Promise.reject(gone()) : disk.sync()),
    writeSnapshot: (snapshot) => (run.gone ? Promise.reject(gone()) : disk.writeSnapshot(snapshot)),
    close: () => (run.gone ? Promise.resolve() : disk.close()),
  }
}

/**
 * A replica's transport that tells `breach` of the first message (to a peer or a client) the replica sends once
 * `failure` says it stopped by itself: fail-stop means nothing leaves from then on.
 */
function stoppedSendsNothing(inner: TransportFactory, failure: () => Error | undefined, breach: (to: string, message: unknown) => void): TransportFactory {
  return (components) => {
    const transport = inner(components)
    let told = false
    const check = (to: string, message: unknown) => {
      if (told || failure() === undefined) return
      told = true
      breach(to, message)
    }
    return {
      self: transport.self,
      start: (handler) => transport.start(handler),
      send: (to, message) => {
        check(to, message)
        transport.send(to, message)
      },
      sendToClient: (to, message) => {
        check(to, message)
        transport.sendToClient(to, message)
      },
      stop: () => transport.stop(),
    }
  }
}

/** A replica's transport that shows the observer every message the replica sends a client. */
function watchedTransport(inner: TransportFactory, observer: ReplicaObserver | undefined): TransportFactory {
  if (!observer?.onClientMessage) return inner
  const onClientMessage = observer.onClientMessage.bind(observer)
  return (components) => {
    const transport = inner(components)
    return {
      self: transport.self,
      start: (handler) => transport.start(handler),
      send: (to, message) => transport.send(to, message),
      sendToClient: (to, message) => {
        onClientMessage(to, message)
        transport.sendToClient(to, message)
      },
      stop: () => transport.stop(),
    }
  }
}

/** A client transport that shows `onMessage` each message before the client handles it. */
function watchedClientTransport(inner: ClientTransport, onMessage: (from: ReplicaId, message: unknown) => void): ClientTransport {
  return {
    self: inner.self,
    start: (handle, events) =>
      inner.start((from, message) => {
        onMessage(from, message)
        handle(from, message)
      }, events),
    send: (to, message) => inner.send(to, message),
    stop: () => inner.stop(),
  }
}

function isReplicaList(value: readonly string[] | SimClientOptions): value is readonly string[] {
  return Array.isArray(value)
}

/** A logger that prefixes each line with the virtual time and the replica. */
function traceLogger(trace: (line: string) => void, id: string, now: () => number): Logger {
  const line = (level: string) => (message: string) => trace(`${now().toFixed(1).padStart(8)} ${id} ${level} ${message}`)
  return { debug: line('debug'), info: line('info'), warn: line('warn'), error: line('error') }
}

/** One disk loss a replica said, as {@link SimCluster.diskLosses} lists it: `r1 saw r3's disk at 11 after 15`. */
export function describeDiskLoss(loss: DiskLoss & { readonly by: string }): string {
  return `${loss.by} saw ${loss.replica}'s disk at ${loss.position} after ${loss.held}`
}
