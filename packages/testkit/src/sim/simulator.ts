import { LockstepClient } from '@lockstep/client'
import { ReplicaHost } from '@lockstep/core'
import type { OrdererFactory, RandomSource, Request } from '@lockstep/interface'
import { MemoryNetwork, memoryClientTransport, memoryTransport } from '@lockstep/transport-memory'
import type { Operation } from '../lincheck/operation'
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
  /** Number of replicas (2F+1). Default 3. */
  readonly replicas?: number
  /** Number of concurrent clients. Default 3. */
  readonly clients?: number
  /** Total requests across all clients. Default 100. */
  readonly ops?: number
  /** The ordering strategy under test. */
  readonly orderer: OrdererSpec
  /** Give up (a liveness violation) after this much virtual time. Default 600,000 ms. */
  readonly maxTimeMs?: number
  /** How the CLI names the machine, for the rerun command (a path for custom machines). */
  readonly machineArg?: string
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
  /** The client-visible history (register and kv workloads). */
  readonly history: readonly Operation[]
}

interface ReplicaRecord {
  readonly delivered: string[]
  readonly executed: Set<string>
  duplicatesExecuted: number
}

/**
 * Runs a whole cluster in one process on virtual time: N replicas over the
 * memory network with seeded delays (messages on different links overtake each
 * other), C clients running the workload, then checks the run: all replicas
 * delivered the same sequence, no request executed twice, every submitted
 * request executed, equal state digests, and the workload's own checks.
 */
export async function simulate(options: SimulationOptions): Promise<SimulationResult> {
  const replicaCount = options.replicas ?? 3
  const clientCount = options.clients ?? 3
  const ops = options.ops ?? 100
  const maxTimeMs = options.maxTimeMs ?? 600_000
  const ordererName = options.orderer.name
  const rerun = `npx lockstep sim --machine ${options.machineArg ?? options.workload.name} --replicas ${replicaCount} --order ${ordererName} --clients ${clientCount} --ops ${ops} --seed ${options.seed}`
  const random = new SeededRandom(options.seed)
  const scheduler = new VirtualScheduler()
  const maxDelay = random.pick([0, 1, 2, 5, 10, 20])
  const delay = { minMs: maxDelay === 0 ? 0 : random.int(0, Math.floor(maxDelay / 2)), maxMs: maxDelay }
  const network = new MemoryNetwork({ scheduler, random: random.fork(), delay })
  const replicaIds = Array.from({ length: replicaCount }, (_, i) => `r${i + 1}`)
  const records = new Map<string, ReplicaRecord>()
  const violations: string[] = []

  const ordererFactory = options.orderer.create(random.fork())
  const hosts = replicaIds.map((id) => {
    const record: ReplicaRecord = { delivered: [], executed: new Set(), duplicatesExecuted: 0 }
    records.set(id, record)
    return new ReplicaHost({
      self: id,
      replicas: replicaIds,
      machine: options.workload.machine,
      orderer: ordererFactory,
      transport: memoryTransport({ network, self: id, replicas: replicaIds }),
      scheduler,
      tickMs: 5,
      onDeliver: (_position: number, request: Request, executed: boolean) => {
        const key = `${request.client}#${request.seq}`
        record.delivered.push(key)
        if (executed) {
          if (record.executed.has(key)) record.duplicatesExecuted++
          record.executed.add(key)
        }
      },
    })
  })
  for (const host of hosts) await host.start()

  const retryAfterMs = random.pick([15, 40, 200, 5_000])
  const history: Operation[] = []
  const events: WorkloadEvent[] = []
  const submitted = new Set<string>()
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
      observer: { submitted: (seq) => submitted.add(`${id}#${seq}`), replied: () => operations++ },
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

  // Run until every client finished, then until every replica executed everything submitted.
  await runWhile(scheduler, () => finished < clientCount && scheduler.now() <= maxTimeMs)
  if (finished < clientCount) {
    violations.push(`liveness: ${clientCount - finished} of ${clientCount} clients did not finish within ${maxTimeMs}ms of virtual time (${operations} requests completed)`)
  }
  const caughtUp = () => hosts.every((h) => records.get(h.engine.self)!.executed.size >= submitted.size && h.engine.pending === 0)
  const settleBy = scheduler.now() + 10_000
  await runWhile(scheduler, () => !caughtUp() && scheduler.now() <= settleBy)

  violations.push(...checkReplicas(replicaIds, records, submitted, finished === clientCount))
  const digests = new Set(hosts.map((h) => h.engine.stateDigest()))
  if (violations.length === 0 && digests.size !== 1) violations.push(`state digests differ across replicas: ${hosts.map((h) => `${h.engine.self}=${h.engine.stateDigest()}`).join(', ')}`)
  if (finished === clientCount) violations.push(...options.workload.check({ history, events }))

  for (const client of clients) await client.stop()
  for (const host of hosts) await host.stop()
  await Promise.all(loops)

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
    history,
  }
}

/** Agreement and Order, exactly-once, and completeness, from what each replica delivered. */
function checkReplicas(replicaIds: readonly string[], records: Map<string, ReplicaRecord>, submitted: Set<string>, complete: boolean): string[] {
  const violations: string[] = []
  const [first, ...rest] = replicaIds
  const reference = records.get(first!)!
  for (const id of rest) {
    const other = records.get(id)!
    const shorter = Math.min(reference.delivered.length, other.delivered.length)
    for (let i = 0; i < shorter; i++) {
      if (reference.delivered[i] !== other.delivered[i]) {
        violations.push(`order: at position ${i + 1} ${first} delivered ${reference.delivered[i]} but ${id} delivered ${other.delivered[i]}`)
        break
      }
    }
  }
  for (const id of replicaIds) {
    const record = records.get(id)!
    if (record.duplicatesExecuted > 0) violations.push(`exactly-once: ${id} executed ${record.duplicatesExecuted} requests twice`)
    if (complete) {
      const missing = [...submitted].filter((key) => !record.executed.has(key))
      if (missing.length > 0) violations.push(`agreement: ${id} never executed ${missing.length} submitted requests (first: ${missing[0]})`)
    }
    for (const key of record.executed) {
      if (!submitted.has(key)) violations.push(`${id} executed ${key}, which no client submitted`)
    }
  }
  return violations
}

/** Steps the scheduler while `condition` holds, letting promise continuations run after each event. */
async function runWhile(scheduler: VirtualScheduler, condition: () => boolean): Promise<void> {
  while (condition()) {
    if (!scheduler.step()) break
    for (let i = 0; i < 4; i++) await undefined
  }
}
