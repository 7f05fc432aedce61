import { describe, expect, it } from 'vitest'
import { checkHistoryLinearizable, kvModel, noLivenessOwed, orderWitness, simulate, workloads, type FaultKind, type SimulationResult, type Workload } from '@lockstep/testkit'
import { orderers } from './orderers'

// Issue 14: correctness under pipelining. Each client keeps K requests in flight on its one LockstepClient (K loops
// of the workload sharing one id, one incarnation and one request numbering), so the replicas' session tables see
// clients that acknowledge below their lowest pending request while later ones execute, retry and get answered out
// of order; a client restart abandons all K. Every check judges the runs: order, exactly-once, no lost acknowledged
// request, completeness, agreed time, diverged replies, equal state, liveness, and linearizability of a history in
// which every loop is a process of its own.
//
// These runs were checked to fail on engine and client bugs that only pipelining shows (the same runs pass with
// LOCKSTEP_IN_FLIGHT=1): a session table that forgets the replies below the seq it executes instead of below the
// client's ackedBelow re-executes a retried request ("exactly-once: c1~2#18 executed at positions 79 and 84"), and
// a client that sends ackedBelow = the seq it sends makes replicas refuse its own earlier pending requests
// ("client c2 failed: … request c2#6 is older than what client 'c2' acknowledged"; "lost: 2 acknowledged requests").
//
// `LOCKSTEP_SEEDS=N` runs N seeds per combination (CI: the default below), `LOCKSTEP_SEED_FROM=S` starts at seed S,
// `LOCKSTEP_IN_FLIGHT=2,4,8,16` picks the requests in flight per client (CI: 4 and 8), `LOCKSTEP_MAX_LOOPS=32` the
// most loops of all clients together (CI: 16).
const seedsPerCombination = Number(process.env.LOCKSTEP_SEEDS ?? 12)
const firstSeed = Number(process.env.LOCKSTEP_SEED_FROM ?? 1)
const inFlights = (process.env.LOCKSTEP_IN_FLIGHT ?? '4,8').split(',').map(Number)
const maxLoops = Number(process.env.LOCKSTEP_MAX_LOOPS ?? 16)

const everyFault: FaultKind[] = ['crash', 'restart', 'amnesia', 'partition', 'slow', 'delay', 'blackout', 'client-restart']

/**
 * Clients for K requests in flight each: 1 to 8, at most `maxLoops` loops in all. With many more, when a fault holds
 * every request up, a score of operations on one key are pending at once and the linearizability search may give up
 * after some seconds (at 32 loops about one seed in 3,000; at 64, one in 25), leaving the verdict to the cluster's
 * own order as a witness: decided, but slow for CI.
 */
const clientsFor = (seed: number, inFlight: number) => 1 + (seed % Math.max(1, Math.min(8, Math.floor(maxLoops / inFlight))))

type Orderer = (typeof orderers)[number]

/** Even seeds run durable replicas (blackouts too), odd ones memory-only replicas (every restart an amnesia). */
const pipelinedRun = (orderer: Orderer, seed: number, machine: string, replicas: number, inFlight: number) =>
  simulate({
    seed,
    workload: workloads[machine]!,
    orderer: orderer.simulation,
    replicas,
    clients: clientsFor(seed, inFlight),
    inFlight,
    ops: 120,
    faults: seed % 2 === 0 ? everyFault : everyFault.filter((kind) => kind !== 'blackout'),
    durable: seed % 2 === 0,
    overlap: true,
  })

/** What a run pipelined: its requests in flight per client, and the most one client had at once (1 and 1 without). */
const pipeliningOf = (result: SimulationResult) => result.pipelining ?? { inFlight: 1, peak: 1 }

/** A run fails if a check failed, or if it ended owing no liveness (its unfinished requests unchecked; see `noLivenessOwed`). */
function describeFailures(failures: readonly SimulationResult[]): string {
  return failures.slice(0, 3).map((f) => `seed ${f.seed}: ${f.ok ? `no liveness owed at the end: ${noLivenessOwed(f)}` : f.violations.slice(0, 3).join('; ')}\n  rerun: ${f.rerun}`).join('\n')
}

describe.each(orderers)('pipelined clients in the modelled world ($name)', (orderer) => {
  const results: SimulationResult[] = []

  for (const machine of ['kv', 'register']) {
    for (const replicas of [3, 5]) {
      for (const inFlight of inFlights) {
        it(`${machine} on ${replicas} replicas, ${inFlight} requests in flight per client: every check passes on ${seedsPerCombination} seeds of overlapping faults of every kind, durable and not`, async () => {
          const failures: SimulationResult[] = []
          for (let seed = firstSeed; seed < firstSeed + seedsPerCombination; seed++) {
            const result = await pipelinedRun(orderer, seed, machine, replicas, inFlight)
            results.push(result)
            if (!result.ok || noLivenessOwed(result)) failures.push(result)
            expect(pipeliningOf(result).inFlight, result.rerun).toBe(inFlight)
          }
          expect(failures, describeFailures(failures)).toEqual([])
        }, 600_000)
      }
    }
  }

  it('the runs pipelined for real, under overlapping faults of every kind, and client restarts abandoned several requests at once', () => {
    // Every client run that got going had its K requests pending at once in some runs of each K.
    for (const inFlight of inFlights) expect(results.some((r) => pipeliningOf(r).inFlight === inFlight && pipeliningOf(r).peak === inFlight), `K = ${inFlight}`).toBe(true)
    const kinds = new Set(results.flatMap((r) => r.faults.map((f) => f.kind)))
    expect([...kinds].sort()).toEqual([...everyFault].sort())
    expect(results.some((r) => r.faultBudget!.peak === r.faultBudget!.limit && r.faultBudget!.limit > 0)).toBe(true)
    // A restart that struck while a client had several requests in flight: each never returned in the history.
    const abandonedAtOnce = results.some((r) =>
      r.faults.some((fault) => fault.kind === 'client-restart' && r.history.filter((op) => op.return === null && String(op.client).startsWith(`${fault.client}.`) && op.call <= fault.atMs).length >= 2),
    )
    expect(abandonedAtOnce).toBe(inFlights.some((inFlight) => inFlight > 1))
    expect(results.some((r) => r.viewChanges > 0)).toBe(true)
  })

  it('voting clients pipeline too: byzantine voting against a lying replica, crashes and client restarts, 4 in flight', async () => {
    for (let seed = 1; seed <= 4; seed++) {
      const result = await simulate({
        seed,
        workload: workloads[seed % 2 === 0 ? 'kv' : 'register']!,
        orderer: orderer.simulation,
        replicas: 3,
        clients: 2,
        inFlight: 4,
        ops: 60,
        faults: ['lie', 'crash', 'restart', 'partition', 'client-restart'],
        overlap: true,
        voter: 'byzantine',
        liars: 1,
        lieMode: seed % 4 < 2 ? 'outputs' : 'state',
      })
      expect(result.violations, result.rerun).toEqual([])
      expect(result.voting!.wrongAnswers).toBe(0)
      for (const replica of Object.keys(result.voting!.dissent)) expect(result.voting!.liars).toContain(replica)
    }
  })

  it("the cluster's own order linearizes every pipelined history, abandoned requests and all (the witness a search that gives up falls back on)", async () => {
    // In a correct run the order the cluster executed the requests in is a linearization: each operation at the
    // position its reply named, an abandoned one where the cluster kept its execution (or left out).
    const witnesses: { seed: number; ok: boolean; reason?: string }[] = []
    let seed = 0
    const witnessed: Workload = {
      ...workloads.kv!,
      check(record) {
        witnesses.push({ seed, ...orderWitness(record.history, kvModel, record.positionOf!) })
        return checkHistoryLinearizable(record.history, kvModel, { positionOf: record.positionOf })
      },
    }
    let abandoned = 0
    for (seed = 1; seed <= 8; seed++) {
      const result = await simulate({ seed, workload: witnessed, orderer: orderer.simulation, replicas: 3, clients: 2, inFlight: 8, ops: 120, faults: seed % 2 === 0 ? everyFault : everyFault.filter((kind) => kind !== 'blackout'), durable: seed % 2 === 0, overlap: true, machineArg: 'kv' })
      expect(result.violations, result.rerun).toEqual([])
      abandoned += result.history.filter((op) => op.return === null).length
    }
    expect(witnesses).toEqual(Array.from({ length: 8 }, (_, i) => ({ seed: i + 1, ok: true })))
    expect(abandoned).toBeGreaterThan(0)
  })

  it('reruns a pipelined seed exactly, and prints a rerun command with --in-flight', async () => {
    const first = results.find((r) => pipeliningOf(r).inFlight === inFlights[0] && r.seed % 2 === 0)!
    const again = await pipelinedRun(orderer, first.seed, 'kv', 3, inFlights[0]!)
    expect(again).toEqual(first)
    expect(again.rerun).toBe(
      `npx lockstep sim --machine kv --replicas 3 --order ${orderer.name} --clients ${clientsFor(first.seed, inFlights[0]!)}${inFlights[0]! > 1 ? ` --in-flight ${inFlights[0]}` : ''} --ops 120 --faults ${everyFault.join(',')} --overlap --durable --seed ${first.seed}`,
    )
  })
})
