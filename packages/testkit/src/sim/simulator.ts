import { ErrorCodes, LockstepError, type OrdererFactory, type RandomSource } from '@lockstep/interface'
import type { Operation } from '../lincheck/operation'
import { checkAgreement, checkOrder } from './checkers/agreement-order'
import { checkCompleteness } from './checkers/completeness'
import { checkExactlyOnce } from './checkers/exactly-once'
import type { Delivery, IncarnationRecord } from './checkers/incarnation-record'
import { checkLiveness } from './checkers/liveness'
import { checkStateDigests } from './checkers/state-digests'
import { FaultInjector, type InstalledView } from './fault-injector'
import { drawFaultSchedule, type FaultEvent, type FaultKind } from './faults'
import { SeededRandom } from './prng'
import { SimCluster } from './sim-cluster'
import type { Workload, WorkloadEvent } from './workloads'

/**
 * An ordering strategy as the simulator runs it: a name (for the rerun
 * command) and a factory that may draw its parameters (heartbeat interval,
 * batch size) from the seed.
 */
export interface OrdererSpec {
  readonly name: string
  create(random: RandomSource): OrdererFactory
}

/** One simulated run's configuration. Everything random is drawn from `seed`. */
export interface SimulationOptions {
  readonly seed: number
  readonly workload: Workload
  /** The ordering strategy under test. */
  readonly orderer: OrdererSpec
  /** Number of replicas (2F+1). Default 3. */
  readonly replicas?: number
  /** Number of concurrent clients. Default 3. */
  readonly clients?: number
  /** Total requests across all clients. Default 100. */
  readonly ops?: number
  /** Faults to inject (drawn from the seed). Default none. Any fault turns on failure detection and view changes. */
  readonly faults?: readonly FaultKind[]
  /**
   * Give every replica a disk that loses what was not synced when it crashes: replies wait for the sync,
   * and crashed replicas restart from their disks. Needed for the `blackout` fault. Default false.
   */
  readonly durable?: boolean
  /** Faults happen during this much virtual time from the start. Default 3,000 ms. */
  readonly faultWindowMs?: number
  /** Liveness bound: once faults stop, every client must finish within this much virtual time. Default 30,000 ms. */
  readonly recoveryBoundMs?: number
  /** Give up (a liveness violation) after this much virtual time without faults. Default 600,000 ms. */
  readonly maxTimeMs?: number
  /** How the CLI names the machine, for the rerun command (a path for custom machines). */
  readonly machineArg?: string
  /** Receives every replica's log lines, stamped with virtual time (for debugging a seed). */
  readonly trace?: (line: string) => void
}

/** The outcome of one run. */
export interface SimulationResult {
  readonly seed: number
  readonly ok: boolean
  /** What went wrong; empty when every check passed. */
  readonly violations: readonly string[]
  /** Requests the clients completed. */
  readonly operations: number
  /** Virtual time the run took. */
  readonly virtualTimeMs: number
  /** Messages sent on the simulated network. */
  readonly messages: number
  /** Events the scheduler ran. */
  readonly events: number
  /** The exact command that reruns this seed. */
  readonly rerun: string
  /** The network's delay model drawn for this seed. */
  readonly delay: { readonly minMs: number; readonly maxMs: number }
  /** The faults injected, at the virtual time they struck (one waits until the cluster recovered from the last). */
  readonly faults: readonly FaultEvent[]
  /** Views installed (by any replica), beyond the first. */
  readonly viewChanges: number
  /** Virtual time from the start of each crash or partition to the next view installed without the victims. */
  readonly failoverMs: readonly number[]
  /** The client-visible history (register and kv workloads). */
  readonly history: readonly Operation[]
}

/** What one incarnation delivered, filled in while the run goes. */
interface LiveIncarnation {
  readonly replica: string
  readonly number: number
  readonly deliveries: Delivery[]
  alive: boolean
  lostWithMajority?: boolean
}

/**
 * Runs a whole cluster in one process on virtual time: N replicas over the
 * memory network with seeded delays (messages on different links overtake each
 * other), C clients running the workload, and optionally faults drawn from the
 * seed (crashes, restarts without state, partitions, slow replicas, delay
 * spikes). Then checks the run: no two replicas delivered different requests
 * at the same position, no request executed twice, every submitted and every
 * acknowledged request executed, equal state digests on the live replicas,
 * liveness within a bound, and the workload's own checks.
 */
export async function simulate(options: SimulationOptions): Promise<SimulationResult> {
  const replicaCount = options.replicas ?? 3
  const clientCount = options.clients ?? 3
  const ops = options.ops ?? 100
  const faultKinds = options.faults ?? []
  const faultWindowMs = options.faultWindowMs ?? 3_000
  const recoveryBoundMs = options.recoveryBoundMs ?? 30_000
  const maxTimeMs = faultKinds.length > 0 ? faultWindowMs + recoveryBoundMs : (options.maxTimeMs ?? 600_000)
  const faultsArg = (faultKinds.length > 0 ? ` --faults ${faultKinds.join(',')}` : '') + (options.durable ? ' --durable' : '')
  if (faultKinds.includes('blackout') && !options.durable) {
    throw new LockstepError(ErrorCodes.INVALID_CONFIG, "the 'blackout' fault needs durable replicas (durable: true, --durable): without disks nothing survives it")
  }
  const rerun = `npx lockstep sim --machine ${options.machineArg ?? options.workload.name} --replicas ${replicaCount} --order ${options.orderer.name} --clients ${clientCount} --ops ${ops}${faultsArg} --seed ${options.seed}`

  // Every draw comes from the seed, in a fixed order: the delay model, the network's own source, the
  // orderer's parameters, the fault schedule, the retry interval, then one source per client.
  const random = new SeededRandom(options.seed)
  const maxDelay = random.pick([0, 1, 2, 5, 10, 20])
  const delay = { minMs: maxDelay === 0 ? 0 : random.int(0, Math.floor(maxDelay / 2)), maxMs: maxDelay }
  const networkRandom = random.fork()
  const ordererFactory = options.orderer.create(random.fork())

  const incarnations: LiveIncarnation[] = []
  // A blackout (more than F replicas down at once) loses a majority's memory: every incarnation that died
  // since the last moment all replicas were up may have lost deliveries nobody acknowledged.
  const f = Math.floor((replicaCount - 1) / 2)
  let diedSinceAllUp: LiveIncarnation[] = []
  const viewsInstalled: InstalledView[] = []
  const cluster: SimCluster = new SimCluster({
    machine: options.workload.machine,
    orderer: ordererFactory,
    replicas: replicaCount,
    random: networkRandom,
    delay,
    // Failure detection and view changes (SimCluster's defaults) only in runs where something can fail.
    membership: faultKinds.length > 0 || options.durable ? undefined : false,
    durable: options.durable,
    trace: options.trace,
    observeReplica: (replica, number) => {
      const incarnation: LiveIncarnation = { replica, number, deliveries: [], alive: true }
      incarnations.push(incarnation)
      return {
        onDeliver: (position, request, executed) => incarnation.deliveries.push({ position, key: `${request.client}#${request.seq}`, executed }),
        onViewInstalled: (view) => viewsInstalled.push({ atMs: cluster.scheduler.now(), members: view.members }),
        onCrash: () => {
          incarnation.alive = false
          const down = replicaCount - cluster.running().length
          diedSinceAllUp = down <= 1 ? [incarnation] : [...diedSinceAllUp, incarnation]
          if (down > f) for (const lost of diedSinceAllUp) lost.lostWithMajority = true
        },
      }
    },
  })
  const { scheduler, network, replicaIds } = cluster
  await cluster.start()

  const faults = new FaultInjector(cluster, { kinds: faultKinds, windowMs: faultWindowMs, delay })
  faults.schedule(drawFaultSchedule(random.fork(), faultKinds, replicaIds, faultWindowMs))

  const violations: string[] = []
  const retryAfterMs = faultKinds.length > 0 ? random.pick([50, 100, 300]) : random.pick([15, 40, 200, 5_000])
  const history: Operation[] = []
  const events: WorkloadEvent[] = []
  const submitted = new Set<string>()
  const acknowledged = new Set<string>()
  const acknowledgedAt = new Map<string, number>()
  let counter = 0
  let finished = 0
  let operations = 0
  const loops: Promise<void>[] = []
  for (let c = 0; c < clientCount; c++) {
    const id = `c${c + 1}`
    // Client c prefers replica c (round robin), so the clients spread over the replicas.
    const preference = [...replicaIds.slice(c % replicaCount), ...replicaIds.slice(0, c % replicaCount)]
    const client = await cluster.client(id, {
      replicas: preference,
      retryAfterMs,
      observer: {
        submitted: (seq) => submitted.add(`${id}#${seq}`),
        replied: (seq, reply) => {
          operations++
          acknowledged.add(`${id}#${seq}`)
          if (reply.position !== undefined) acknowledgedAt.set(`${id}#${seq}`, reply.position)
        },
      },
    })
    const share = Math.floor(ops / clientCount) + (c < ops % clientCount ? 1 : 0)
    const loop = options.workload
      .runClient({
        id,
        client,
        random: random.fork(),
        requests: share,
        now: () => scheduler.now(),
        tick: () => ++counter,
        sleep: (ms) => new Promise((resolve) => scheduler.setTimer(ms, resolve)),
        record: (operation) => history.push(operation),
        note: (event) => events.push(event),
      })
      .catch((error: unknown) => {
        violations.push(`client ${id} failed: ${(error as Error).message}`)
      })
      .finally(() => finished++)
    loops.push(loop)
  }

  // Run until every client finished (within the liveness bound).
  await cluster.runWhile(() => finished < clientCount && scheduler.now() <= maxTimeMs)
  const bound = faultKinds.length > 0 ? `${recoveryBoundMs}ms after the faults stopped (at ${faultWindowMs}ms)` : `${maxTimeMs}ms`
  violations.push(...checkLiveness({ clients: clientCount, finished, operations, bound }))
  // Heal everything, bring crashed replicas back, and let every live replica catch up.
  await faults.endAll()
  const serving = () => cluster.running().filter((host) => host.engine.status === 'normal')
  const caughtUp = () => {
    const hosts = serving()
    if (hosts.length === 0) return false
    const positions = new Set(hosts.map((host) => host.engine.position))
    return positions.size === 1 && hosts.every((host) => host.engine.pending === 0) && (!faults.restarts || hosts.length === replicaIds.length)
  }
  const settleBy = scheduler.now() + 10_000
  await cluster.runWhile(() => !caughtUp() && scheduler.now() <= settleBy)

  // The checks. A divergent order makes the other delivery checks meaningless, so it stands alone.
  const records = incarnations.map((incarnation) => incarnationRecord(incarnation, cluster))
  const order = checkOrder(records, acknowledgedAt)
  violations.push(...order)
  if (order.length === 0) {
    violations.push(
      ...checkExactlyOnce(records, acknowledgedAt),
      ...checkCompleteness(records, { submitted, acknowledged, allFinished: finished === clientCount }),
      ...checkAgreement(records),
    )
  }
  if (violations.length === 0) {
    violations.push(...checkStateDigests(serving().map((host) => ({ replica: host.engine.self, position: host.engine.position, digest: host.engine.stateDigest() }))))
  }
  if (finished === clientCount) violations.push(...options.workload.check({ history, events }))

  violations.push(...cluster.failures.map((failure) => `simulator: ${failure}`))
  const failoverMs = faults.failoverMs(viewsInstalled)
  await cluster.stop()
  // Clients that never finished wait on virtual time that no longer runs: do not wait for them.
  if (finished === clientCount) await Promise.all(loops)

  return {
    seed: options.seed,
    ok: violations.length === 0,
    violations,
    operations,
    virtualTimeMs: scheduler.now(),
    messages: network.stats.sent,
    events: scheduler.eventsRun,
    rerun,
    delay,
    faults: faults.injected,
    viewChanges: viewsInstalled.length,
    failoverMs,
    history,
  }
}

/** What the checks see of an incarnation: its deliveries, and its position if it is the one serving now. */
function incarnationRecord(incarnation: LiveIncarnation, cluster: SimCluster): IncarnationRecord {
  const host = incarnation.alive ? cluster.host(incarnation.replica) : undefined
  const servingAt = host && host.engine.status === 'normal' ? host.engine.position : undefined
  return { replica: incarnation.replica, number: incarnation.number, deliveries: incarnation.deliveries, servingAt, lostWithMajority: incarnation.lostWithMajority }
}
