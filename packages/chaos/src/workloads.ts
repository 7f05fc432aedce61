import type { LockstepClient } from '@lockstep/client'
import { clusterClient, type LoadedClusterConfig } from '@lockstep/cli'
import { LockClient } from '@lockstep/lock-service'
import { SeededRandom, checkLinearizability, checkMutualExclusion, kvModel, registerModel, type Operation, type WorkloadEvent } from '@lockstep/testkit'

/** How a workload's operations ended. */
export interface OperationCounts {
  ok: number
  failed: number
  unknown: number
}

/** What a workload found. */
export interface WorkloadResult {
  readonly workload: string
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
}

/** How long one operation may take before its outcome counts as unknown (its client is then replaced). */
const OPERATION_TIMEOUT_MS = 4000
const KEYS = 5

/** Clients of a workload: a fresh one (new id) replaces one whose operation timed out. */
class ClientPool {
  private readonly config: LoadedClusterConfig
  private readonly prefix: string
  private generation = 0
  private readonly all: LockstepClient[] = []

  constructor(config: LoadedClusterConfig, prefix: string) {
    this.config = config
    this.prefix = prefix
  }

  async fresh(slot: number, preferred: string): Promise<LockstepClient> {
    const client = await clusterClient(this.config, { id: `${this.prefix}${slot}-${++this.generation}`, preferred, retryAfterMs: 300 })
    this.all.push(client)
    await client.start()
    return client
  }

  async stopAll(): Promise<void> {
    await Promise.allSettled(this.all.map((client) => client.stop()))
  }
}

type Outcome<O> = { readonly ok: true; readonly output: O } | { readonly ok: false; readonly definite: boolean }

/** Runs `command` on `client`: its output, a definite failure (an error reply), or unknown (a timeout or a lost client). */
async function attempt<O>(client: LockstepClient, command: unknown, toOutput: (values: unknown[]) => O): Promise<Outcome<O>> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), OPERATION_TIMEOUT_MS)))
  try {
    const reply = await Promise.race([client.submit(command), timeout])
    if (reply === 'timeout') return { ok: false, definite: false }
    // An error reply of the machine means it ran and changed nothing; any other (expired session, stopped) is unknown.
    if (!reply.ok) return { ok: false, definite: reply.error.code === 'COMMAND_FAILED' || reply.error.code === 'INVALID_COMMAND' }
    return { ok: true, output: toOutput(reply.outputs.map((o) => o.value)) }
  } catch {
    return { ok: false, definite: false }
  } finally {
    clearTimeout(timer)
  }
}

/** Concurrent clients over a register or a key-value store, recorded for the linearizability checker. */
function historyWorkload<I>(
  name: 'kv' | 'register',
  config: LoadedClusterConfig,
  random: SeededRandom,
  clients: number,
  nextInput: (random: SeededRandom, client: string, n: number) => I,
  toCommand: (input: I) => unknown,
  toOutput: (input: I, values: unknown[]) => unknown,
  finalReads: () => I[],
  lostWrites: (history: readonly Operation<I>[]) => number,
): RunningWorkload {
  const pool = new ClientPool(config, `${name}-`)
  const history: Operation<I>[] = []
  const counts: OperationCounts = { ok: 0, failed: 0, unknown: 0 }
  const successes: number[] = []
  const ids = config.replicas.map((r) => r.id)
  let running = true
  const loops = Array.from({ length: clients }, async (_, slot) => {
    const rng = random.fork()
    let client = await pool.fresh(slot, ids[slot % ids.length]!)
    for (let n = 0; running; n++) {
      const input = nextInput(rng, client.id, n)
      const call = performance.now()
      const outcome = await attempt(client, toCommand(input), (values) => toOutput(input, values))
      const returned = performance.now()
      if (outcome.ok) {
        counts.ok++
        successes.push(returned)
        history.push({ client: client.id, input, output: outcome.output, call, return: returned })
      } else if (outcome.definite) {
        counts.failed++
      } else {
        counts.unknown++
        history.push({ client: client.id, input, output: null, call, return: null })
        client = await pool.fresh(slot, ids[(slot + n) % ids.length]!)
      }
    }
  })
  let stopped: Promise<void> | undefined
  return {
    stop: () => (stopped ??= (async () => {
      running = false
      await Promise.all(loops)
    })()),
    async check() {
      // The final reads, from a fresh client, once the cluster healed: they must all succeed.
      const reader = await pool.fresh(99, ids[0]!)
      const violations: string[] = []
      for (const input of finalReads()) {
        const call = performance.now()
        let outcome: Outcome<unknown> = { ok: false, definite: false }
        for (let tries = 0; tries < 10 && !outcome.ok; tries++) outcome = await attempt(reader, toCommand(input), (values) => toOutput(input, values))
        if (!outcome.ok) {
          violations.push(`${name}: the final read ${JSON.stringify(input)} got no answer after the cluster healed`)
          continue
        }
        history.push({ client: reader.id, input, output: outcome.output, call, return: performance.now() })
      }
      await pool.stopAll()
      const model = name === 'kv' ? kvModel : registerModel
      const result = checkLinearizability(history as Operation[], model as never, { timeoutMs: 60_000, now: () => performance.now() })
      if (result.verdict === 'not-linearizable') violations.push(`${name}: the history of ${history.length} operations is not linearizable`)
      if (result.verdict === 'unknown') violations.push(`${name}: the linearizability check gave up (unknown) on ${history.length} operations`)
      const lost = lostWrites(history)
      if (lost > 0) violations.push(`${name}: ${lost} acknowledged writes are missing from the final reads`)
      return { workload: name, operations: counts, violations, lostWrites: lost, successes }
    },
  }
}

type KvInput = { f: 'get'; key: string } | { f: 'append'; key: string; value: string }

/** Appends of unique tokens and reads over a few keys: every acknowledged append must be in the final read of its key. */
export function kvWorkload(config: LoadedClusterConfig, random: SeededRandom, clients = 4): RunningWorkload {
  return historyWorkload<KvInput>(
    'kv',
    config,
    random,
    clients,
    (rng, client, n) => {
      const key = `k${rng.int(0, KEYS - 1)}`
      return rng.chance(0.5) ? { f: 'get', key } : { f: 'append', key, value: `${client}.${n};` }
    },
    (input) => (input.f === 'get' ? { name: 'get', args: { key: input.key } } : { name: 'append', args: { key: input.key, value: input.value } }),
    (input, values) => (input.f === 'get' ? { value: (values[0] as { value: string }).value } : {}),
    () => Array.from({ length: KEYS }, (_, i) => ({ f: 'get', key: `k${i}` }) as const),
    (history) => {
      const final = new Map<string, string>()
      for (const op of history) if (op.input.f === 'get' && op.output !== null && op.client.toString().startsWith('kv-99-')) final.set(op.input.key, (op.output as { value: string }).value)
      let lost = 0
      for (const op of history) {
        if (op.input.f !== 'append' || op.output === null) continue
        if (!(final.get(op.input.key) ?? '').includes(op.input.value)) lost++
      }
      return lost
    },
  )
}

type RegisterInput = { f: 'read' } | { f: 'write'; value: number } | { f: 'cas'; from: number; to: number }

/** Reads, writes and compare-and-sets of one register. */
export function registerWorkload(config: LoadedClusterConfig, random: SeededRandom, clients = 4): RunningWorkload {
  let next = 0
  return historyWorkload<RegisterInput>(
    'register',
    config,
    random,
    clients,
    (rng) => {
      const roll = rng.next()
      if (roll < 0.4) return { f: 'read' }
      if (roll < 0.7) return { f: 'write', value: ++next }
      return { f: 'cas', from: rng.int(Math.max(0, next - 2), next), to: ++next }
    },
    (input) => (input.f === 'read' ? { name: 'read' } : input.f === 'write' ? { name: 'write', args: { value: input.value } } : { name: 'cas', args: { from: input.from, to: input.to } }),
    (input, values) => {
      const value = values[0] as { value?: unknown; ok?: boolean }
      return input.f === 'read' ? { value: value.value ?? null } : input.f === 'write' ? {} : { ok: value.ok === true }
    },
    () => [{ f: 'read' }],
    () => 0, // a register keeps one value: lost writes show as a linearizability violation
  )
}

/**
 * Clients of the lock service (the safe mutex, specs/safe-mutex.sm) acquire, hold briefly and release; no
 * two may hold the lock at once, and fencing tokens grow strictly in grant order. Lock operations are not
 * given up on (a client that gave up on an acquire could hold the lock without knowing); the clients retry
 * until the cluster answers.
 */
export function lockWorkload(config: LoadedClusterConfig, random: SeededRandom, clients = 3): RunningWorkload {
  const pool = new ClientPool(config, 'lock-')
  const events: WorkloadEvent[] = []
  const tokens: number[] = []
  const counts: OperationCounts = { ok: 0, failed: 0, unknown: 0 }
  const successes: number[] = []
  const ids = config.replicas.map((r) => r.id)
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
      return { workload: 'lock', operations: counts, violations, lostWrites: 0, successes }
    },
  }
}
