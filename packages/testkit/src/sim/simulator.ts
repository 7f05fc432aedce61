import { LockstepClient } from '@lockstep/client'
import { ReplicaHost, type MembershipOptions } from '@lockstep/core'
import { ErrorCodes, LockstepError, type Logger, type OrdererFactory, type RandomSource, type Request } from '@lockstep/interface'
import { memoryDurableStorage, type MemoryDurableStorage } from '@lockstep/storage-file'
import { MemoryNetwork, memoryClientTransport, memoryTransport } from '@lockstep/transport-memory'
import type { Operation } from '../lincheck/operation'
import { drawFaultSchedule, type FaultEvent, type FaultKind } from './faults'
import { SeededRandom } from './prng'
import { VirtualScheduler } from './virtual-scheduler'
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

/** What one incarnation of a replica delivered, by position. */
interface Incarnation {
  readonly replica: string
  /** 0 for the first run of the replica, then 1, 2, … for each restart. */
  readonly number: number
  readonly host: ReplicaHost
  readonly delivered: Map<number, { key: string; executed: boolean }>
  duplicatesExecuted: number
  alive: boolean
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
  const random = new SeededRandom(options.seed)
  const scheduler = new VirtualScheduler()
  const maxDelay = random.pick([0, 1, 2, 5, 10, 20])
  const delay = { minMs: maxDelay === 0 ? 0 : random.int(0, Math.floor(maxDelay / 2)), maxMs: maxDelay }
  const network = new MemoryNetwork({ scheduler, random: random.fork(), delay })
  const replicaIds = Array.from({ length: replicaCount }, (_, i) => `r${i + 1}`)
  const violations: string[] = []
  const ordererFactory = options.orderer.create(random.fork())
  const membership: MembershipOptions | undefined = faultKinds.length > 0 || options.durable ? { heartbeatMs: 20, suspectAfterMs: 150, viewChangeTimeoutMs: 200 } : undefined
  const incarnations: Incarnation[] = []
  const current = new Map<string, Incarnation>()
  const viewsInstalled: { atMs: number; members: readonly string[] }[] = []

  const disks = new Map<string, MemoryDurableStorage>()
  const startReplica = async (id: string, join: boolean) => {
    let disk = disks.get(id)
    if (options.durable && !disk) {
      disk = memoryDurableStorage()
      disks.set(id, disk)
    }
    const delivered = new Map<number, { key: string; executed: boolean }>()
    const incarnation: Incarnation = { replica: id, number: incarnations.filter((i) => i.replica === id).length, host: undefined as never, delivered, duplicatesExecuted: 0, alive: true }
    const executed = new Set<string>()
    const host = new ReplicaHost({
      self: id,
      replicas: replicaIds,
      machine: options.workload.machine,
      orderer: ordererFactory,
      transport: memoryTransport({ network, self: id, replicas: replicaIds }),
      scheduler,
      tickMs: 5,
      checkInvariants: true,
      membership,
      join,
      storage: disk,
      log: options.trace ? traceLogger(options.trace, id, () => scheduler.now()) : undefined,
      onDeliver: (position: number, request: Request, wasExecuted: boolean) => {
        const key = `${request.client}#${request.seq}`
        delivered.set(position, { key, executed: wasExecuted })
        if (wasExecuted) {
          if (executed.has(key)) incarnation.duplicatesExecuted++
          executed.add(key)
        }
      },
      onViewInstalled: (view) => viewsInstalled.push({ atMs: scheduler.now(), members: view.members }),
    })
    ;(incarnation as { host: ReplicaHost }).host = host
    incarnations.push(incarnation)
    current.set(id, incarnation)
    await host.start()
  }
  for (const id of replicaIds) await startReplica(id, false)

  // Faults, scheduled on virtual time.
  const schedule = drawFaultSchedule(random.fork(), faultKinds, replicaIds, faultWindowMs)
  const failoverStarts: { atMs: number; victims: readonly string[] }[] = []
  // A fault strikes only a cluster that has recovered from the last one (every live replica serving in one
  // view of all of them); otherwise it waits. So at most F replicas are ever out at once, counting those
  // still rejoining.
  const restart = faultKinds.includes('restart') || faultKinds.includes('blackout')
  const healthy = () => {
    const up = replicaIds.map((id) => current.get(id)!).filter((i) => i.alive)
    if (restart && up.length < replicaIds.length) return false
    const views = new Set(up.map((i) => i.host.engine.view.id))
    return views.size === 1 && up.every((i) => i.host.engine.status === 'normal' && i.host.engine.view.members.length === up.length)
  }
  const strike = (fault: FaultEvent) => {
    if (!healthy()) {
      if (scheduler.now() < faultWindowMs) scheduler.setTimer(50, () => strike(fault))
      return
    }
    inject(fault)
  }
  const injected: FaultEvent[] = []
  const inject = (fault: FaultEvent) => {
    injected.push({ ...fault, atMs: scheduler.now() })
    {
      if (fault.kind === 'crash' || fault.kind === 'blackout') {
        if (fault.kind === 'crash') failoverStarts.push({ atMs: scheduler.now(), victims: fault.replicas })
        for (const id of fault.replicas) {
          const incarnation = current.get(id)!
          if (!incarnation.alive) continue
          incarnation.alive = false
          void incarnation.host.kill()
          disks.get(id)?.crash()
        }
        if (fault.kind === 'blackout') {
          scheduler.setTimer(fault.durationMs, () => {
            for (const id of fault.replicas) if (!current.get(id)!.alive) void startReplica(id, true)
          })
          return
        }
        if (restart) {
          scheduler.setTimer(fault.durationMs, () => {
            for (const id of fault.replicas) if (!current.get(id)!.alive) void startReplica(id, true)
          })
        }
      } else if (fault.kind === 'partition') {
        failoverStarts.push({ atMs: scheduler.now(), victims: fault.replicas })
        network.partition(fault.replicas, replicaIds.filter((r) => !fault.replicas.includes(r)))
        scheduler.setTimer(fault.durationMs, () => network.heal())
      } else if (fault.kind === 'slow') {
        network.setSlow(fault.replicas[0]!, fault.extraMs)
        scheduler.setTimer(fault.durationMs, () => network.setSlow(fault.replicas[0]!, 0))
      } else {
        network.setDelay({ minMs: delay.minMs, maxMs: delay.maxMs + fault.extraMs })
        scheduler.setTimer(fault.durationMs, () => network.setDelay(delay))
      }
    }
  }
  for (const fault of schedule) scheduler.setTimer(fault.atMs, () => strike(fault))

  const retryAfterMs = faultKinds.length > 0 ? random.pick([50, 100, 300]) : random.pick([15, 40, 200, 5_000])
  const history: Operation[] = []
  const events: WorkloadEvent[] = []
  const submitted = new Set<string>()
  const acknowledged = new Set<string>()
  let counter = 0
  let finished = 0
  let operations = 0
  const clients: LockstepClient[] = []
  const loops: Promise<void>[] = []
  for (let c = 0; c < clientCount; c++) {
    const id = `c${c + 1}`
    const preference = [...replicaIds.slice(c % replicaCount), ...replicaIds.slice(0, c % replicaCount)]
    const client = new LockstepClient({
      id,
      transport: memoryClientTransport({ network, self: id, replicas: replicaIds }),
      replicas: preference,
      scheduler,
      retryAfterMs,
      observer: {
        submitted: (seq) => submitted.add(`${id}#${seq}`),
        replied: (seq) => {
          operations++
          acknowledged.add(`${id}#${seq}`)
        },
      },
    })
    await client.start()
    clients.push(client)
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
  await runWhile(scheduler, () => finished < clientCount && scheduler.now() <= maxTimeMs)
  if (finished < clientCount) {
    const bound = faultKinds.length > 0 ? `${recoveryBoundMs}ms after the faults stopped (at ${faultWindowMs}ms)` : `${maxTimeMs}ms`
    violations.push(`liveness: ${clientCount - finished} of ${clientCount} clients did not finish within ${bound} of virtual time (${operations} requests completed)`)
  }
  // Heal everything, bring crashed replicas back, and let every live replica catch up.
  network.heal()
  network.setDelay(delay)
  for (const id of replicaIds) network.setSlow(id, 0)
  if (restart) for (const id of replicaIds) if (!current.get(id)!.alive) await startReplica(id, true)
  const live = () => replicaIds.map((id) => current.get(id)!).filter((i) => i.alive)
  const caughtUp = () => {
    const serving = live().filter((i) => i.host.engine.status === 'normal')
    if (serving.length === 0) return false
    const positions = new Set(serving.map((i) => i.host.engine.position))
    return positions.size === 1 && serving.every((i) => i.host.engine.pending === 0) && (!restart || serving.length === replicaIds.length)
  }
  const settleBy = scheduler.now() + 10_000
  await runWhile(scheduler, () => !caughtUp() && scheduler.now() <= settleBy)

  violations.push(...checkIncarnations(incarnations, submitted, acknowledged, finished === clientCount))
  const serving = live().filter((i) => i.host.engine.status === 'normal')
  const digests = new Set(serving.map((i) => i.host.engine.stateDigest()))
  if (violations.length === 0 && digests.size > 1) {
    violations.push(`state digests differ across replicas: ${serving.map((i) => `${i.replica}@${i.host.engine.position}=${i.host.engine.stateDigest()}`).join(', ')}`)
  }
  if (finished === clientCount) violations.push(...options.workload.check({ history, events }))

  const failoverMs = failoverStarts.flatMap((start) => {
    const next = viewsInstalled.find((v) => v.atMs >= start.atMs && start.victims.every((victim) => !v.members.includes(victim)))
    return next ? [next.atMs - start.atMs] : []
  })
  for (const client of clients) await client.stop()
  for (const incarnation of live()) await incarnation.host.stop()
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
    faults: injected,
    viewChanges: viewsInstalled.length,
    failoverMs,
    history,
  }
}

/**
 * Agreement and Order across every incarnation of every replica: no two
 * delivered different requests at the same position; no request executed at
 * two positions or twice in one incarnation; every acknowledged (and, when all
 * clients finished, every submitted) request executed; nothing executed that
 * nobody submitted.
 */
function checkIncarnations(incarnations: readonly Incarnation[], submitted: Set<string>, acknowledged: Set<string>, complete: boolean): string[] {
  const violations: string[] = []
  const byPosition = new Map<number, { key: string; by: string }>()
  const executedAt = new Map<string, number>()
  for (const incarnation of incarnations) {
    const name = incarnation.number === 0 ? incarnation.replica : `${incarnation.replica} (restart ${incarnation.number})`
    if (incarnation.duplicatesExecuted > 0) violations.push(`exactly-once: ${name} executed ${incarnation.duplicatesExecuted} requests twice`)
    for (const [position, { key, executed }] of incarnation.delivered) {
      const seen = byPosition.get(position)
      if (!seen) byPosition.set(position, { key, by: name })
      else if (seen.key !== key) {
        violations.push(`order: at position ${position} ${seen.by} delivered ${seen.key} but ${name} delivered ${key}`)
        return violations
      }
      if (executed) {
        const at = executedAt.get(key)
        if (at !== undefined && at !== position) violations.push(`exactly-once: ${key} executed at positions ${at} and ${position}`)
        executedAt.set(key, position)
      }
      if (!submitted.has(key)) violations.push(`${name} executed ${key}, which no client submitted`)
    }
  }
  const lost = [...acknowledged].filter((key) => !executedAt.has(key))
  if (lost.length > 0) violations.push(`lost: ${lost.length} acknowledged requests were never executed (first: ${lost[0]})`)
  if (complete) {
    const missing = [...submitted].filter((key) => !executedAt.has(key))
    if (missing.length > 0) violations.push(`agreement: ${missing.length} submitted requests were never executed (first: ${missing[0]})`)
  }
  // Every live replica that serves holds the whole sequence up to its position.
  for (const incarnation of incarnations) {
    if (!incarnation.alive || incarnation.host.engine.status !== 'normal') continue
    const top = incarnation.host.engine.position
    for (let p = 1; p <= top; p++) {
      if (!byPosition.has(p)) {
        violations.push(`agreement: position ${p} below ${incarnation.replica}'s position ${top} was never delivered by any replica`)
        break
      }
    }
  }
  return violations
}

function traceLogger(trace: (line: string) => void, id: string, now: () => number): Logger {
  const line = (level: string) => (message: string) => trace(`${now().toFixed(1).padStart(8)} ${id} ${level} ${message}`)
  return { debug: line('debug'), info: line('info'), warn: line('warn'), error: line('error') }
}

/** Steps the scheduler while `condition` holds, letting promise continuations run after each event. */
async function runWhile(scheduler: VirtualScheduler, condition: () => boolean): Promise<void> {
  while (condition()) {
    if (!scheduler.step()) break
    for (let i = 0; i < 4; i++) await undefined
  }
}
