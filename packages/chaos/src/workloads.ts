import { setMaxListeners } from 'node:events'
import type { LockstepClient } from '@lockstep/client'
import { clusterClient, type LoadedClusterConfig } from '@lockstep/cli'
import { LockClient } from '@lockstep/lock-service'
import { SeededRandom, checkLinearizability, checkMutualExclusion, kvModel, registerModel, type Operation, type WorkloadEvent } from '@lockstep/testkit'
import type { ClientCredentials } from './pki'

/** How a workload's operations ended. */
export interface OperationCounts {
  ok: number
  failed: number
  unknown: number
}

/** What a workload found. */
export interface WorkloadResult {
  readonly workload: string
  /** Operations each client kept in flight (always 1 for `lock`: a lock client has one acquire or release at a time). */
  readonly inFlight: number
  readonly operations: OperationCounts
  readonly violations: string[]
  /** Acknowledged writes that the final reads do not show. */
  readonly lostWrites: number
  /** Completion times (ms, performance.now()) of successful operations, for the longest unavailability. */
  readonly successes: number[]
}

/** A running workload: stop it, then check it (after the cluster healed). */
export interface RunningWorkload {
  stop(): Promise<void>
  check(): Promise<WorkloadResult>
  /** How the operations ended so far (a copy). */
  operations(): OperationCounts
}

/** What the kv and register workloads use of a client. */
export type WorkloadClient = Pick<LockstepClient, 'id' | 'start' | 'stop' | 'submit'>

/** The cluster a workload runs against: its replicas' ids, and how to make a client (not started yet) that prefers one of them. */
export interface WorkloadCluster<C extends WorkloadClient = LockstepClient> {
  readonly replicas: readonly string[]
  connect(id: string, preferred: string): Promise<C>
}

/**
 * The cluster of `config`, reached over TCP: each client with connections of its own, or with `sharedConnections`
 * all of them over one connection to each replica (the transport's `shareConnections`).
 */
export function tcpCluster(
  config: LoadedClusterConfig,
  options: { readonly sharedConnections?: boolean; readonly credentials?: (id: string) => Promise<ClientCredentials | undefined> } = {},
): WorkloadCluster {
  const shareConnections = options.sharedConnections === true
  return {
    replicas: config.replicas.map((replica) => replica.id),
    connect: async (id, preferred) => {
      const tls = await options.credentials?.(id)
      return clusterClient(config, { id, preferred, retryAfterMs: 300, shareConnections, ...(tls === undefined ? {} : { tls }) })
    },
  }
}

/** Options of {@link kvWorkload} and {@link registerWorkload}. */
export interface HistoryWorkloadOptions {
  /** Clients (default 4). */
  readonly clients?: number
  /**
   * Operations each client keeps in flight (default 1): K loops share the client, each a sequential process of
   * the recorded history (named `<client id>/<loop>`), the way an application's concurrent calls share its client.
   */
  readonly inFlight?: number
  /** How long one operation may take before its outcome counts as unknown and its client is replaced (default 4000 ms). */
  readonly operationTimeoutMs?: number
  /** How long the final reads may take, all of them together, once the cluster healed (default 30,000 ms). */
  readonly finalReadsMs?: number
}

/** The default of {@link HistoryWorkloadOptions.operationTimeoutMs}. */
const OPERATION_TIMEOUT_MS = 4000
/** The default of {@link HistoryWorkloadOptions.finalReadsMs}. */
const FINAL_READS_MS = 30_000
/** Keys of one kv key group. */
const KEYS = 5
/**
 * Loops (processes) that share a kv key group, and the most register loops that write: the checker's search
 * grows exponentially with the writes concurrent on one key, so more loops get more key groups (kv), and
 * register loops beyond 16 only read.
 */
const LOOPS_PER_KEY_GROUP = 8
/**
 * Operations of a kv loop on one set of keys before it moves on to the next (Jepsen's list-append retires keys
 * the same way): a key's history, and its value, stay short however long the run. The checker's search keeps
 * per key, and a value grows with every append: a 150 s run put 2,900 operations on each key, values of 19,690
 * characters, and the check gave up after its 60 s.
 */
const KEY_EPOCH_OPS = 200
const REGISTER_WRITING_LOOPS = 16

/** Clients of a workload: a fresh one (new id) replaces one whose operation timed out. */
class ClientPool<C extends WorkloadClient> {
  private readonly cluster: WorkloadCluster<C>
  private readonly prefix: string
  private generation = 0
  private readonly all: C[] = []

  constructor(cluster: WorkloadCluster<C>, prefix: string) {
    this.cluster = cluster
    this.prefix = prefix
  }

  async fresh(slot: number | string, preferred: string): Promise<C> {
    const client = await this.cluster.connect(`${this.prefix}${slot}-${++this.generation}`, preferred)
    this.all.push(client)
    await client.start()
    return client
  }

  async stopAll(): Promise<void> {
    await Promise.allSettled(this.all.map((client) => client.stop()))
  }
}

/** One client of a {@link SharedClient}, until it is given up on. */
interface ClientGeneration<C> {
  readonly client: C
  /** Aborts when the client is given up on: every operation still in flight on it then has an unknown outcome. */
  readonly abandoned: AbortSignal
}

/**
 * The client the K loops of one slot share. When an operation of one loop gets no answer in time, the client
 * is replaced for all of them (a fresh id: the old one keeps retrying its requests in the background, which
 * may take effect late or never); the operations the other loops still have in flight on it are abandoned
 * at that moment, with unknown outcomes, and every loop goes on with the new client.
 */
class SharedClient<C extends WorkloadClient> {
  private current: Promise<ClientGeneration<C>>
  /** The newest client, and what gives it up. */
  private latest: { readonly generation: ClientGeneration<C>; readonly controller: AbortController } | undefined

  constructor(
    private readonly pool: ClientPool<C>,
    private readonly slot: number,
    preferred: string,
  ) {
    this.current = this.connect(preferred)
  }

  /** The client to use now (the one being connected, once a replacement has begun). */
  generation(): Promise<ClientGeneration<C>> {
    return this.current
  }

  /** Gives `stale` up, unless another loop did already, and resolves with the client that replaces it (preferring `preferred`). */
  replace(stale: ClientGeneration<C>, preferred: string): Promise<ClientGeneration<C>> {
    if (this.latest?.generation === stale && !stale.abandoned.aborted) {
      this.latest.controller.abort()
      this.current = this.connect(preferred)
    }
    return this.current
  }

  private async connect(preferred: string): Promise<ClientGeneration<C>> {
    const controller = new AbortController()
    // Each of the K loops listens while its operation is in flight: more than the 10 Node.js warns about is expected.
    setMaxListeners(0, controller.signal)
    const generation = { client: await this.pool.fresh(this.slot, preferred), abandoned: controller.signal }
    this.latest = { generation, controller }
    return generation
  }
}

type Outcome<O> = { readonly ok: true; readonly output: O } | { readonly ok: false; readonly definite: boolean }

/**
 * Runs `command` on `client`: its output, a definite failure (an error reply), or unknown (a timeout, a lost
 * client, or `abandoned` aborting first: the client was given up on while the operation was in flight).
 */
async function attempt<O>(client: WorkloadClient, command: unknown, toOutput: (values: unknown[]) => O, timeoutMs: number, abandoned?: AbortSignal): Promise<Outcome<O>> {
  if (abandoned?.aborted) return { ok: false, definite: false }
  let timer: NodeJS.Timeout | undefined
  let onAbort: () => void = () => {}
  const timeout = new Promise<'unknown'>((resolve) => {
    timer = setTimeout(() => resolve('unknown'), timeoutMs)
    onAbort = () => resolve('unknown')
    abandoned?.addEventListener('abort', onAbort, { once: true })
  })
  try {
    const reply = await Promise.race([client.submit(command), timeout])
    // A reply that arrives once the client was given up on is not taken: every operation then in flight is unknown.
    if (reply === 'unknown' || abandoned?.aborted) return { ok: false, definite: false }
    // An error reply of the machine means it ran and changed nothing; any other (expired session, stopped) is unknown.
    if (!reply.ok) return { ok: false, definite: reply.error.code === 'COMMAND_FAILED' || reply.error.code === 'INVALID_COMMAND' }
    return { ok: true, output: toOutput(reply.outputs.map((o) => o.value)) }
  } catch {
    return { ok: false, definite: false }
  } finally {
    clearTimeout(timer)
    abandoned?.removeEventListener('abort', onAbort)
  }
}

/** A running kv or register workload; its history (with the final reads once checked) for a closer look. */
export interface HistoryWorkload<I> extends RunningWorkload {
  readonly history: readonly Operation<I>[]
}

/** A workload's command for one operation, and its output as the model sees it. */
interface HistoryCommands<I> {
  /** The `n`th operation of process `process`: loop `loop` (counted over all clients) of `loops`. */
  readonly next: (random: SeededRandom, process: string, n: number, loop: number, loops: number) => I
  readonly toCommand: (input: I) => unknown
  readonly toOutput: (input: I, values: unknown[]) => unknown
  /** The reads after the run (of `loops` loops, which made `history`) that must see every acknowledged write. */
  readonly finalReads: (loops: number, history: readonly Operation<I>[]) => I[]
  /** Acknowledged writes of `history` that the final reads (`finals`, also in `history`) do not show. */
  readonly lostWrites: (history: readonly Operation<I>[], finals: readonly Operation<I>[]) => number
}

/**
 * Concurrent clients over a register or a key-value store, recorded for the linearizability checker. Each
 * client has `inFlight` loops that share it; each loop is a sequential process of the history (operations
 * of one process never overlap; one that never returned ends its process, whose loop goes on under the new
 * client's name).
 */
function historyWorkload<I>(name: 'kv' | 'register', cluster: WorkloadCluster<WorkloadClient>, random: SeededRandom, options: HistoryWorkloadOptions, commands: HistoryCommands<I>): HistoryWorkload<I> {
  const clients = options.clients ?? 4
  const inFlight = options.inFlight ?? 1
  const timeoutMs = options.operationTimeoutMs ?? OPERATION_TIMEOUT_MS
  const finalReadsMs = options.finalReadsMs ?? FINAL_READS_MS
  const pool = new ClientPool(cluster, `${name}-`)
  const history: Operation<I>[] = []
  const counts: OperationCounts = { ok: 0, failed: 0, unknown: 0 }
  const successes: number[] = []
  const ids = cluster.replicas
  let running = true
  const loops = Array.from({ length: clients }, (_, slot) => {
    const shared = new SharedClient(pool, slot, ids[slot % ids.length]!)
    return Array.from({ length: inFlight }, async (_, loop) => {
      const rng = random.fork()
      let generation = await shared.generation()
      for (let n = 0; running; n++) {
        const process = `${generation.client.id}/${loop}`
        const input = commands.next(rng, process, n, slot * inFlight + loop, clients * inFlight)
        const call = performance.now()
        const outcome = await attempt(generation.client, commands.toCommand(input), (values) => commands.toOutput(input, values), timeoutMs, generation.abandoned)
        const returned = performance.now()
        if (outcome.ok) {
          counts.ok++
          successes.push(returned)
          history.push({ client: process, input, output: outcome.output, call, return: returned })
        } else if (outcome.definite) {
          counts.failed++
        } else {
          // Never returned: it may take effect at any time, or never; this process ends, the loop goes on as a new one.
          counts.unknown++
          history.push({ client: process, input, output: null, call, return: null })
          generation = await shared.replace(generation, ids[(slot + n + loop) % ids.length]!)
        }
      }
    })
  }).flat()
  let stopped: Promise<void> | undefined
  return {
    operations: () => ({ ...counts }),
    stop: () => (stopped ??= (async () => {
      running = false
      await Promise.all(loops)
    })()),
    async check() {
      // The final reads, from a fresh client, once the cluster healed: they must all succeed.
      const reader = await pool.fresh('final', ids[0]!)
      const violations: string[] = []
      const finals: Operation<I>[] = []
      // All of them within `finalReadsMs`: a cluster that does not serve after healing is a violation, reported
      // as such, not a run that waits for ever (10 tries of every read, one after the other).
      const deadline = performance.now() + finalReadsMs
      for (const input of commands.finalReads(clients * inFlight, history)) {
        const call = performance.now()
        let outcome: Outcome<unknown> = { ok: false, definite: false }
        for (let tries = 0; tries < 10 && !outcome.ok && performance.now() < deadline; tries++) outcome = await attempt(reader, commands.toCommand(input), (values) => commands.toOutput(input, values), timeoutMs)
        if (!outcome.ok) {
          violations.push(`${name}: the final read ${JSON.stringify(input)} got no answer after the cluster healed (all final reads had ${finalReadsMs / 1000} s)`)
          continue
        }
        finals.push({ client: reader.id, input, output: outcome.output, call, return: performance.now() })
      }
      history.push(...finals)
      await pool.stopAll()
      const model = name === 'kv' ? kvModel : registerModel
      const result = checkLinearizability(history as Operation[], model as never, { timeoutMs: 60_000, now: () => performance.now() })
      if (result.verdict === 'not-linearizable') violations.push(`${name}: the history of ${history.length} operations is not linearizable${result.violation ? `: ${result.violation.message}` : ''}`)
      if (result.verdict === 'unknown') violations.push(`${name}: the linearizability check gave up (unknown) on ${history.length} operations`)
      const lost = commands.lostWrites(history, finals)
      if (lost > 0) violations.push(`${name}: ${lost} acknowledged writes are missing from the final reads`)
      return { workload: name, inFlight, operations: counts, violations, lostWrites: lost, successes }
    },
    history,
  }
}

type KvInput = { f: 'get'; key: string } | { f: 'append'; key: string; value: string }

/**
 * Appends of unique tokens and reads over a few keys: every acknowledged append must be in the final read of
 * its key. Every 8 loops (processes) share a group of 5 keys (one group, k0 to k4, up to 8 loops), so that a
 * key sees about as much concurrency however many operations the clients keep in flight (linearizability is
 * checked key by key, and is exactly as strict so: it is a local property). Loop i of all the clients' loops
 * uses group i mod groups: a client's loops spread over the groups, and each group mixes clients. Every
 * {@link KEY_EPOCH_OPS} operations a loop moves on to new keys (k0.1 to k4.1, then k0.2, …), as the loops of its
 * group do at about the same time; every key used is read at the end.
 */
export function kvWorkload(cluster: WorkloadCluster<WorkloadClient>, random: SeededRandom, options: HistoryWorkloadOptions = {}): HistoryWorkload<KvInput> {
  return historyWorkload<KvInput>('kv', cluster, random, options, {
    // A token names its process and its number there: unique in the run, and ';' ends it.
    next: (rng, process, n, loop, loops) => {
      const epoch = Math.floor(n / KEY_EPOCH_OPS)
      const key = `k${(loop % keyGroups(loops)) * KEYS + rng.int(0, KEYS - 1)}${epoch === 0 ? '' : `.${epoch}`}`
      return rng.chance(0.5) ? { f: 'get', key } : { f: 'append', key, value: `${process}.${n};` }
    },
    toCommand: (input) => (input.f === 'get' ? { name: 'get', args: { key: input.key } } : { name: 'append', args: { key: input.key, value: input.value } }),
    toOutput: (input, values) => (input.f === 'get' ? { value: (values[0] as { value: string }).value } : {}),
    finalReads: (loops, history) => {
      const keys = new Set(Array.from({ length: keyGroups(loops) * KEYS }, (_, i) => `k${i}`))
      for (const op of history) keys.add(op.input.key)
      return [...keys].map((key) => ({ f: 'get', key }) as const)
    },
    lostWrites: (history, finals) => {
      const tokens = new Map<string, Set<string>>()
      for (const op of finals) {
        if (op.input.f === 'get' && op.output !== null) tokens.set(op.input.key, new Set((op.output as { value: string }).value.split(';').map((token) => `${token};`)))
      }
      let lost = 0
      for (const op of history) {
        if (op.input.f !== 'append' || op.output === null) continue
        if (!tokens.get(op.input.key)?.has(op.input.value)) lost++
      }
      return lost
    },
  })
}

type RegisterInput = { f: 'read' } | { f: 'write'; value: number } | { f: 'cas'; from: number; to: number }

/** The kv workload's key groups for `loops` loops. */
const keyGroups = (loops: number) => Math.ceil(loops / LOOPS_PER_KEY_GROUP)

/**
 * Reads (40 %), writes (30 %) and compare-and-sets (30 %) of one register, by up to 16 loops in all (4 clients
 * with up to 4 in flight each); with more loops, 16 of them, spread evenly over the clients, keep that mix and
 * the others only read. The register is one key, and the checker's search grows exponentially with the writes
 * concurrent on it: 4 clients × 16 loops all writing made it give up (beyond 5 million states), with 256 loops
 * even when only 2 % of the operations were writes.
 */
export function registerWorkload(cluster: WorkloadCluster<WorkloadClient>, random: SeededRandom, options: HistoryWorkloadOptions = {}): HistoryWorkload<RegisterInput> {
  let next = 0
  return historyWorkload<RegisterInput>('register', cluster, random, options, {
    next: (rng, _process, _n, loop, loops) => {
      if (loop % Math.ceil(loops / REGISTER_WRITING_LOOPS) !== 0) return { f: 'read' }
      const roll = rng.next()
      if (roll < 0.4) return { f: 'read' }
      if (roll < 0.7) return { f: 'write', value: ++next }
      return { f: 'cas', from: rng.int(Math.max(0, next - 2), next), to: ++next }
    },
    toCommand: (input) => (input.f === 'read' ? { name: 'read' } : input.f === 'write' ? { name: 'write', args: { value: input.value } } : { name: 'cas', args: { from: input.from, to: input.to } }),
    toOutput: (input, values) => {
      const value = values[0] as { value?: unknown; ok?: boolean }
      return input.f === 'read' ? { value: value.value ?? null } : input.f === 'write' ? {} : { ok: value.ok === true }
    },
    finalReads: () => [{ f: 'read' }],
    lostWrites: () => 0, // a register keeps one value: lost writes show as a linearizability violation
  })
}

/**
 * Clients of the lock service (the safe mutex, specs/safe-mutex.sm) acquire, hold briefly and release; no
 * two may hold the lock at once, and fencing tokens grow strictly in grant order. Lock operations are not
 * given up on (a client that gave up on an acquire could hold the lock without knowing); the clients retry
 * until the cluster answers. Each client has one operation in flight: a lock client holds at most one
 * acquire or release at a time, and the mutex queues a client id once, so more in flight on one client has
 * no meaning here (the run's `--in-flight` does not apply to this workload).
 */
export function lockWorkload(cluster: WorkloadCluster, random: SeededRandom, clients = 3): RunningWorkload {
  const pool = new ClientPool(cluster, 'lock-')
  const events: WorkloadEvent[] = []
  const tokens: number[] = []
  const counts: OperationCounts = { ok: 0, failed: 0, unknown: 0 }
  const successes: number[] = []
  const ids = cluster.replicas
  let running = true
  let tick = 0
  const loops = Array.from({ length: clients }, async (_, slot) => {
    const rng = random.fork()
    const lock = new LockClient(await pool.fresh(slot, ids[slot % ids.length]!))
    while (running) {
      try {
        const { token } = await lock.acquire()
        counts.ok++
        successes.push(performance.now())
        events.push({ kind: 'grant', client: lock.client.id, tick: ++tick, time: performance.now() })
        tokens.push(token ?? -1)
        await new Promise((resolve) => setTimeout(resolve, rng.int(1, 20)))
        events.push({ kind: 'release', client: lock.client.id, tick: ++tick, time: performance.now() })
        await lock.release()
        counts.ok++
        successes.push(performance.now())
      } catch {
        // Stopped at the end of the run (or an error reply): the lock may be held; this client is done.
        if (running) counts.failed++
        return
      }
    }
  })
  let stopped: Promise<void> | undefined
  return {
    operations: () => ({ ...counts }),
    stop: () => (stopped ??= (async () => {
      running = false
      // A client waiting for a grant waits for a release that will not come: stopping the clients ends it.
      await Promise.race([Promise.all(loops), new Promise((resolve) => setTimeout(resolve, 10_000))])
      await pool.stopAll()
      await Promise.all(loops)
    })()),
    async check() {
      const violations = checkMutualExclusion(events)
      for (let i = 1; i < tokens.length; i++) {
        if (!(tokens[i]! > tokens[i - 1]!)) violations.push(`lock: fencing token ${tokens[i]} granted after ${tokens[i - 1]} (grant ${i + 1})`)
      }
      return { workload: 'lock', inFlight: 1, operations: counts, violations, lostWrites: 0, successes }
    },
  }
}
