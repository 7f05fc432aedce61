import type { Reply } from '@lockstep/interface'
import { SeededRandom, type Operation } from '@lockstep/testkit'
import { describe, expect, it } from 'vitest'
import { MAX_IN_FLIGHT, formatResult, parseChaosArgs, type ChaosResult } from '../src/index'
import { kvWorkload, registerWorkload, type HistoryWorkload, type WorkloadClient, type WorkloadCluster } from '../src/workloads'

// The bookkeeping of pipelined clients, without processes: fake clients answer their requests out of order (and,
// where a test says so, never, late, or without doing what they acknowledged).

/** What a fake client does with one request: answer it after a few ms, or the exceptions a test sets up. */
type Fate = 'answer' | 'never' | 'execute-silently' | 'answer-late' | 'acknowledge-without-executing'

/** A kv store and a register behind fake clients; records how many requests each client had in flight at most. */
class FakeCluster implements WorkloadCluster<WorkloadClient> {
  readonly replicas = ['r1', 'r2', 'r3']
  readonly data = new Map<string, string>()
  register: number | null = null
  readonly mostInFlight = new Map<string, number>()
  private readonly random = new SeededRandom(7)
  private position = 0

  constructor(private readonly fate: (client: string, request: number) => Fate = () => 'answer') {}

  async connect(id: string): Promise<WorkloadClient> {
    let inFlight = 0
    let seq = 0
    return {
      id,
      start: async () => {},
      stop: async () => {},
      submit: (command: unknown) => {
        const request = ++seq
        const fate = this.fate(id, request)
        inFlight++
        this.mostInFlight.set(id, Math.max(this.mostInFlight.get(id) ?? 0, inFlight))
        return new Promise<Reply>((resolve) => {
          // Answers come back in another order than the requests went out.
          const delayMs = fate === 'answer-late' ? 300 : this.random.int(0, 4)
          setTimeout(() => {
            if (fate === 'never') return
            const values = this.outputsOf(command, fate !== 'acknowledge-without-executing')
            if (fate === 'execute-silently') return
            inFlight--
            resolve({ client: id, seq: request, ok: true, outputs: values.map((value, i) => ({ outputSeq: i + 1, value })), position: ++this.position })
          }, delayMs)
        })
      },
    }
  }

  /** Executes `command` (unless `execute` is false: then only says what it would answer) and returns its outputs. */
  private outputsOf(raw: unknown, execute: boolean): unknown[] {
    const command = raw as { name: string; args?: { key?: string; value?: unknown; from?: number; to?: number } }
    const key = command.args?.key ?? ''
    switch (command.name) {
      case 'get':
        return [{ value: this.data.get(key) ?? '' }]
      case 'append':
        if (execute) this.data.set(key, (this.data.get(key) ?? '') + String(command.args!.value))
        return []
      case 'read':
        return [{ value: this.register }]
      case 'write':
        if (execute) this.register = command.args!.value as number
        return []
      case 'cas': {
        const ok = this.register === command.args!.from
        if (ok && execute) this.register = command.args!.to!
        return [{ ok }]
      }
      default:
        throw new Error(`the fake cluster does not know ${command.name}`)
    }
  }
}

/** Runs a workload until its history has `operations` operations, then stops and checks it. */
async function runUntil<I>(workload: HistoryWorkload<I>, operations: number) {
  while (workload.history.length < operations) await new Promise((resolve) => setTimeout(resolve, 5))
  await workload.stop()
  return workload.check()
}

/** The history's operations by process, final reads left out. */
function processes(history: readonly Operation[]): Map<string, Operation[]> {
  const byProcess = new Map<string, Operation[]>()
  for (const op of history) {
    const name = String(op.client)
    if (name.includes('-final-')) continue
    byProcess.set(name, [...(byProcess.get(name) ?? []), op])
  }
  return byProcess
}

/** The client id of a process `<client id>/<loop>`. */
const clientOf = (process: string) => process.slice(0, process.lastIndexOf('/'))

/** A run's result for the table, with a violation (so that the replay command is printed). */
const reported = (overrides: Partial<ChaosResult>): ChaosResult => ({
  seed: 5,
  durationS: 30,
  ranS: overrides.ranS ?? overrides.durationS ?? 30,
  extended: false,
  replicas: 3,
  inFlight: 4,
  order: 'realtime',
  sharedConnections: false,
  tls: false,
  nemeses: ['kill', 'pause'],
  workloads: [],
  operations: { ok: 30, failed: 0, unknown: 3 },
  faults: { kill: 2 },
  faultLog: [],
  violations: ['kv: the history of 12 operations is not linearizable'],
  lostWrites: 0,
  longestUnavailableMs: 1200,
  longestUnavailableByNemesis: {},
  dir: '/tmp/chaos',
  ...overrides,
})
describe('--in-flight: parsing and reporting', () => {
  it('defaults to 1 and takes an integer from 1 to 64', () => {
    expect(parseChaosArgs([]).inFlight).toBe(1)
    expect(parseChaosArgs(['--in-flight', '16']).inFlight).toBe(16)
    expect(parseChaosArgs(['--in-flight', '1']).inFlight).toBe(1)
    expect(parseChaosArgs([`--in-flight=${MAX_IN_FLIGHT}`]).inFlight).toBe(64)
  })

  it('refuses anything else with a usage error that names the flag and its range', () => {
    for (const bad of ['0', '65', '2.5', '-1', 'four', '', '1e1', '0x10']) {
      expect(() => parseChaosArgs([`--in-flight=${bad}`]), `--in-flight=${bad}`).toThrow(`--in-flight must be an integer from 1 to 64 (operations each kv and register client keeps in flight), not '${bad}'`)
    }
  })

  const workload = (name: string, inFlight: number) => ({ workload: name, inFlight, operations: { ok: 10, failed: 0, unknown: 1 }, violations: [], lostWrites: 0, successes: [] })

  it('the table shows the operations in flight per client (lock: one) and the replay command repeats --in-flight', () => {
    const table = formatResult(reported({ workloads: [workload('kv', 4), workload('register', 4), workload('lock', 1)] }))
    expect(table).toMatch(/^in flight per client +4 \(kv, register\); lock 1: a lock client has one acquire or release at a time$/m)
    expect(table).toMatch(/^ordering +realtime$/m)
    expect(table).toContain('replay: npm run chaos -- --duration 30 --replicas 3 --in-flight 4 --order realtime --nemesis kill,pause --workload kv,register,lock --seed 5')
  })

  it('--shared-connections (default off) shows in the table and in the replay command', () => {
    expect(parseChaosArgs([]).sharedConnections).toBe(false)
    expect(parseChaosArgs(['--shared-connections']).sharedConnections).toBe(true)
    const table = formatResult(reported({ seed: 7, durationS: 10, inFlight: 1, order: 'lamport', sharedConnections: true, nemeses: ['reset'], workloads: [workload('kv', 1)] }))
    expect(table).toMatch(/^client connections +shared: one per replica for all clients$/m)
    expect(table).toContain('replay: npm run chaos -- --duration 10 --replicas 3 --in-flight 1 --order lamport --shared-connections --nemesis reset --workload kv --seed 7')
  })

  it('the duration row says how long the phases ran when that differs, and why', () => {
    expect(formatResult(reported({ durationS: 30, ranS: 30.4 }))).toMatch(/^duration +30 s$/m)
    expect(formatResult(reported({ durationS: 30, ranS: 33.2 }))).toMatch(/^duration +30 s, ran 33\.2 s \(faults under way at a phase's end healed after it\)$/m)
    expect(formatResult(reported({ durationS: 30, ranS: 52, extended: true }))).toMatch(/^duration +30 s, ran 52 s \(a phase went on until it had done its share of the work asked for\)$/m)
  })

  it('--order chooses the ordering strategy (default lamport) and refuses others, naming the choices', () => {
    expect(parseChaosArgs([]).order).toBe('lamport')
    expect(parseChaosArgs(['--order', 'realtime']).order).toBe('realtime')
    expect(() => parseChaosArgs(['--order', 'paxos'])).toThrow("--order must be one of lamport, realtime, not 'paxos'")
  })
})

describe('pipelined clients: the recorded history', () => {
  it('K loops on each client are K sequential processes whose requests overlap on the client; the history is linearizable and nothing acknowledged is lost', async () => {
    const cluster = new FakeCluster()
    const workload = kvWorkload(cluster, new SeededRandom(1), { clients: 2, inFlight: 4 })
    const result = await runUntil(workload, 400)
    expect(result.violations).toEqual([])
    expect(result.inFlight).toBe(4)
    expect(result.lostWrites).toBe(0)
    const byProcess = processes(workload.history)
    expect([...byProcess.keys()].sort()).toEqual(['kv-0-1/0', 'kv-0-1/1', 'kv-0-1/2', 'kv-0-1/3', 'kv-1-2/0', 'kv-1-2/1', 'kv-1-2/2', 'kv-1-2/3'])
    for (const [name, ops] of byProcess) {
      for (let i = 1; i < ops.length; i++) expect(ops[i]!.call, `${name}: operation ${i} begins before the one before it returned`).toBeGreaterThanOrEqual(ops[i - 1]!.return!)
    }
    // Pipelined for real: each client had all four loops' requests out at once.
    expect(cluster.mostInFlight.get('kv-0-1')).toBe(4)
    expect(cluster.mostInFlight.get('kv-1-2')).toBe(4)
    // Append tokens are unique across loops of one client.
    const tokens = workload.history.filter((op) => (op.input as { f: string }).f === 'append').map((op) => (op.input as { value: string }).value)
    expect(new Set(tokens).size).toBe(tokens.length)
  })

  it('a request without an answer in time replaces the client for all its loops: every loop\'s operation then in flight on it is unknown and ends its process', async () => {
    // Client kv-0-1 never answers its 21st request (it answers the others at once): when that one times out the
    // client is given up, and the other three loops' requests, in flight on it then, are abandoned with it.
    const cluster = new FakeCluster((client, request) => (client === 'kv-0-1' && request === 21 ? 'never' : 'answer'))
    const workload = kvWorkload(cluster, new SeededRandom(2), { clients: 2, inFlight: 4, operationTimeoutMs: 100 })
    const result = await runUntil(workload, 400)
    expect(result.violations).toEqual([])
    const byProcess = processes(workload.history)
    const stalled = [...byProcess].filter(([name]) => clientOf(name) === 'kv-0-1')
    expect(stalled.map(([name]) => name).sort()).toEqual(['kv-0-1/0', 'kv-0-1/1', 'kv-0-1/2', 'kv-0-1/3'])
    for (const [name, ops] of stalled) {
      const unknown = ops.filter((op) => op.output === null)
      expect(unknown, `${name}: its unknown operations`).toHaveLength(1)
      expect(ops.at(-1), `${name}: the unknown operation is its last`).toBe(unknown[0])
      expect(unknown[0]!.return).toBeNull()
    }
    expect(result.operations.unknown).toBe(4)
    // Slot 0 goes on with one new client, all four loops on it.
    const replacements = [...new Set([...byProcess.keys()].map(clientOf))].filter((id) => id.startsWith('kv-0-') && id !== 'kv-0-1')
    expect(replacements).toHaveLength(1)
    expect([...byProcess.keys()].filter((name) => clientOf(name) === replacements[0]).sort()).toEqual([0, 1, 2, 3].map((loop) => `${replacements[0]}/${loop}`))
    expect(cluster.mostInFlight.get(replacements[0]!)).toBe(4)
  })

  it('with one in flight, as before: an answer after the timeout is not taken, the operation is unknown, the client replaced', async () => {
    // kv-0-1 answers its 11th request after 300 ms, beyond the 100 ms timeout.
    const cluster = new FakeCluster((client, request) => (client === 'kv-0-1' && request === 11 ? 'answer-late' : 'answer'))
    const workload = kvWorkload(cluster, new SeededRandom(3), { clients: 1, inFlight: 1, operationTimeoutMs: 100 })
    const result = await runUntil(workload, 100)
    expect(result.violations).toEqual([])
    const byProcess = processes(workload.history)
    expect(byProcess.get('kv-0-1/0')!.map((op) => op.output === null)).toEqual([...Array<boolean>(10).fill(false), true])
    expect([...byProcess.keys()]).toEqual(['kv-0-1/0', 'kv-0-2/0'])
    expect(result.operations.unknown).toBe(1)
  })

  it('requests that executed but were never answered are unknown, not lost; an acknowledged append that did not execute is a lost write and a violation', async () => {
    const silent = new FakeCluster((client, request) => (client === 'kv-1-2' && request > 30 ? 'execute-silently' : 'answer'))
    const quiet = kvWorkload(silent, new SeededRandom(4), { clients: 2, inFlight: 4, operationTimeoutMs: 100 })
    const ok = await runUntil(quiet, 300)
    expect(ok.violations).toEqual([])
    expect(ok.lostWrites).toBe(0)
    expect(ok.operations.unknown).toBe(4)

    // A client whose replica acknowledges appends it never executes (from its 5th request on): acknowledged writes go missing.
    const liar = new FakeCluster((client, request) => (client === 'kv-0-1' && request > 4 ? 'acknowledge-without-executing' : 'answer'))
    const lying = kvWorkload(liar, new SeededRandom(5), { clients: 2, inFlight: 4 })
    const bad = await runUntil(lying, 300)
    expect(bad.lostWrites).toBeGreaterThan(0)
    expect(bad.violations).toContain(`kv: ${bad.lostWrites} acknowledged writes are missing from the final reads`)
    expect(bad.violations.some((v) => v.startsWith('kv: the history of') && v.includes('is not linearizable'))).toBe(true)
  })

  it('a cluster that does not answer the final reads is a violation within their time, not a run that waits for ever', async () => {
    // Every request of the final reader goes unanswered. Each try waits operationTimeoutMs (20 ms), so in the
    // reads' 100 ms at most 6 are made, against 10 tries of each of the 5 reads (one key group) without that bound.
    let finalTries = 0
    const cluster = new FakeCluster((client) => {
      if (!client.includes('final')) return 'answer'
      finalTries++
      return 'never'
    })
    const workload = kvWorkload(cluster, new SeededRandom(5), { clients: 2, inFlight: 4, operationTimeoutMs: 20, finalReadsMs: 100 })
    const result = await runUntil(workload, 40)
    const unanswered = result.violations.filter((v) => v.includes('got no answer after the cluster healed (all final reads had 0.1 s)'))
    expect(unanswered).toHaveLength(5)
    expect(finalTries).toBeGreaterThanOrEqual(1)
    expect(finalTries).toBeLessThanOrEqual(6)
  })

  it('kv with many loops: 8 loops to a group of 5 keys, every key read at the end', async () => {
    const cluster = new FakeCluster()
    const workload = kvWorkload(cluster, new SeededRandom(8), { clients: 4, inFlight: 16 })
    const result = await runUntil(workload, 1500)
    expect(result.violations).toEqual([])
    const processesByKey = new Map<string, Set<string>>()
    for (const op of workload.history) {
      const { key } = op.input as { key: string }
      if (!String(op.client).includes('-final-')) processesByKey.set(key, (processesByKey.get(key) ?? new Set()).add(String(op.client)))
    }
    expect([...processesByKey.keys()].sort()).toEqual(Array.from({ length: 40 }, (_, i) => `k${i}`).sort())
    for (const [key, names] of processesByKey) expect(names.size, `processes on ${key}`).toBeLessThanOrEqual(8)
    const finals = workload.history.filter((op) => String(op.client).includes('-final-')).map((op) => (op.input as { key: string }).key)
    expect(finals.sort()).toEqual([...processesByKey.keys()].sort())
  })

  it('kv moves on to new keys every 200 operations of a loop: no key collects the whole run, and every key used is read at the end', async () => {
    const cluster = new FakeCluster()
    const workload = kvWorkload(cluster, new SeededRandom(11), { clients: 2, inFlight: 1 })
    const result = await runUntil(workload, 1300)
    expect(result.violations).toEqual([])
    const opsByKey = new Map<string, number>()
    for (const op of workload.history) {
      const { key } = op.input as { key: string }
      if (!String(op.client).includes('-final-')) opsByKey.set(key, (opsByKey.get(key) ?? 0) + 1)
    }
    // Two loops of about 650 operations each: epochs 0 to 3, five keys each.
    expect([...opsByKey.keys()].filter((key) => key.endsWith('.3')).length).toBe(5)
    for (const [key, count] of opsByKey) expect(count, `operations on ${key}`).toBeLessThanOrEqual(2 * 200)
    const finals = workload.history.filter((op) => String(op.client).includes('-final-')).map((op) => (op.input as { key: string }).key)
    expect(finals.sort()).toEqual([...opsByKey.keys()].sort())
  })

  it('register with many loops: 16 loops, 4 on each client, write and compare-and-set; the others only read', async () => {
    const cluster = new FakeCluster()
    const workload = registerWorkload(cluster, new SeededRandom(9), { clients: 4, inFlight: 16 })
    const result = await runUntil(workload, 3000)
    expect(result.violations).toEqual([])
    const writers = new Set(workload.history.filter((op) => (op.input as { f: string }).f !== 'read').map((op) => String(op.client)))
    expect([...writers].sort()).toEqual(['register-0-1', 'register-1-2', 'register-2-3', 'register-3-4'].flatMap((id) => [0, 4, 8, 12].map((loop) => `${id}/${loop}`)).sort())
  })

  it('register: K loops per client, one history, linearizable', async () => {
    const cluster = new FakeCluster()
    const workload = registerWorkload(cluster, new SeededRandom(6), { clients: 3, inFlight: 5 })
    const result = await runUntil(workload, 400)
    expect(result.violations).toEqual([])
    expect(processes(workload.history).size).toBe(15)
    for (const id of ['register-0-1', 'register-1-2', 'register-2-3']) expect(cluster.mostInFlight.get(id)).toBe(5)
  })
})

describe('--tls: parsing and reporting', () => {
  it('is off by default, on with --tls, and refused beside --shared-connections (each client proves its id over its own connection)', () => {
    expect(parseChaosArgs([]).tls).toBe(false)
    expect(parseChaosArgs(['--tls']).tls).toBe(true)
    expect(() => parseChaosArgs(['--tls', '--shared-connections'])).toThrow('--tls and --shared-connections do not go together')
  })

  it('the table says how the nodes authenticate, and the replay command repeats --tls', () => {
    const table = formatResult(reported({ tls: true, durationS: 20, ranS: 20, inFlight: 1, order: 'lamport', nemeses: ['reset'], seed: 7 }))
    expect(table).toMatch(/^authentication +mutual TLS \(a certificate per replica and per client\)$/m)
    expect(table).toContain('replay: npm run chaos -- --duration 20 --replicas 3 --in-flight 1 --order lamport --tls --nemesis reset --workload  --seed 7')
    expect(formatResult(reported({}))).toMatch(/^authentication +the cluster's secrets$/m)
    expect(formatResult(reported({}))).not.toContain('--tls')
  })
})
