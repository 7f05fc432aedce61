import { describe, expect, it } from 'vitest'
import { simulate, workloads, type FaultKind, type SimulationResult } from '@lockstep/testkit'
import { describeFailures, runSeeds } from './failures'
import { orderers } from './orderers'

/**
 * Links between replicas that take up to 1.5 s to connect at first (`connectDelayMaxMs`), as TCP connections to
 * processes slow to start and listen do on a loaded machine: the cluster starts while some replicas cannot hear
 * the others yet, and faults strike as soon as the budget lets them. 20 seeds per setting in CI;
 * `LOCKSTEP_SEEDS=500` for a long run, `LOCKSTEP_SEED_FROM=5001` to start elsewhere.
 */
const seeds = Number(process.env.LOCKSTEP_SEEDS ?? 20)
const firstSeed = Number(process.env.LOCKSTEP_SEED_FROM ?? 1)

const everyFault: FaultKind[] = ['crash', 'restart', 'amnesia', 'partition', 'slow', 'delay', 'pause', 'client-restart']

/** The setting of the two stories below, as `lockstep sim` reruns them. */
const story = (seed: number, replicas: number) =>
  simulate({
    seed,
    workload: workloads.kv!,
    orderer: orderers[0].simulation,
    replicas,
    clients: 3,
    ops: 100,
    faults: ['crash', 'restart', 'amnesia', 'partition', 'pause'],
    durable: true,
    overlap: true,
    connectDelayMaxMs: 1500,
  })

describe('links slow to connect at the start', () => {
  // (Checked on 2026-12-05: seed 13 no longer fails with its fix out, 483f0a5 in either half; core's
  // cluster-start.test.ts catches each half, as tooling/mutants.json records.)
  it('Found (5 replicas, seed 13, no fault): replicas that heard too few peers to start start with the peer that counted them', async () => {
    // r1 started counting r2 and r4, r4 counting r1 and r3; r2 and r3, their other links still connecting, took
    // r1's view change for a running cluster and asked to join it: r1 and r4 alone were members, fewer than a
    // majority, and no client was ever answered (core's cluster-start.ts, `shouldStart`).
    const result = await story(13, 5)
    expect(result.violations).toEqual([])
    expect(result.operations).toBe(100)
  })

  it('Found (3 replicas, seed 16): no fault strikes the replicas that started the cluster while another has not served yet', async () => {
    // r1 and r3 started the cluster while r2's links were still connecting, then r3 lost its disk: r1 alone held the
    // state, and r2, which never held it, cannot be told from a replica that lost it, so it may not vote. The
    // simulator counted r2 as correct and struck r3: beyond F in truth, where a stall is the design. It now holds
    // new faults back while a replica has not served yet (testkit's fault-budget.ts).
    const result = await story(16, 3)
    expect(result.violations).toEqual([])
    expect(result.operations).toBe(100)
  })

  const settings: { name: string; replicas: number; durable: boolean; machine: string }[] = [
    { name: 'kv, 3 replicas, disks', replicas: 3, durable: true, machine: 'kv' },
    { name: 'kv, 5 replicas, disks', replicas: 5, durable: true, machine: 'kv' },
    { name: 'mutex, 3 replicas, memory', replicas: 3, durable: false, machine: 'mutex' },
    { name: 'register, 5 replicas, memory', replicas: 5, durable: false, machine: 'register' },
  ]
  describe.each(orderers)('$name', (orderer) => {
    it.each(settings)(`every check passes on ${seeds} seeds: $name, every fault`, async ({ replicas, durable, machine }) => {
      const { results, failures } = await runSeeds(firstSeed, seeds, (seed) =>
        simulate({
          seed,
          workload: workloads[machine]!,
          orderer: orderer.simulation,
          replicas,
          clients: 1 + (seed % 5),
          ops: 100,
          faults: durable ? [...everyFault, 'blackout'] : everyFault,
          durable,
          overlap: true,
          connectDelayMaxMs: 1500,
          heldForRestart: seed % 2 === 0,
        }),
      )
      const operations = results.reduce((sum, result) => sum + result.operations, 0)
      expect(failures, describeFailures(failures)).toEqual([])
      expect(operations).toBeGreaterThan(seeds * 90)
    })
  })
})

/**
 * A new cluster whose links are slow to connect (up to 1.5 s) and tiny (8 messages: what a replica sends while a
 * link connects fills it, and the rest is refused): the starters' confirmations and their first view-1 messages
 * are lost or late. Before the fix about one new cluster in a hundred never formed (sweep grid `forming`).
 */
const tiny = (seed: number, replicas: number, orderer: (typeof orderers)[number], machine = 'kv', durable = false) =>
  simulate({
    seed,
    workload: workloads[machine]!,
    orderer: orderer.simulation,
    replicas,
    clients: durable ? 6 : 4,
    ops: 150,
    faults: durable ? ['crash', 'restart', 'slow', 'delay', 'client-restart', 'pause'] : ['slow', 'delay'],
    durable,
    overlap: true,
    linkCapacity: 8,
    connectDelayMaxMs: 1500,
  })

describe('a new cluster over tiny links slow to connect', () => {
  describe.each(orderers)('$name', (orderer) => {
    it('Found (3 replicas, seed 240, no crash): replicas whose confirmation from the starter was refused by a full link start when its heartbeats name them', async () => {
      // r2 and r3 confirmed r1, and r1 started view 1 with them, but its own joins naming them were refused by the
      // full links: they took its heartbeats for a cluster started without them and asked to join; r1 alone held
      // view 1, and no client was ever answered. r1's heartbeats of view 1 now name the runs it had heard.
      const result = await tiny(240, 3, orderer)
      expect(result.violations).toEqual([])
      expect(result.operations).toBe(150)
    })

    // Since 2026-12-07 (the view rules for cut links) seed 32 no longer fails without its fix (second-hand evidence
    // of a running cluster is final); the fix stays caught by core's cluster-start.test.ts (tooling/mutants.json).
    it('Found (7 replicas, seed 32; 5 replicas with disks, mutex, seed 148): a starter\'s view change makes the replicas it counted wait out the grace, not give up', async () => {
      // The starter began a view change at once (two of its links were full); replicas that had not heard its
      // confirmation yet took the view change, or a peer's plain join sent on it, for a running cluster and asked to
      // join: too few held view 1 to ever form a view (the story of random seed 12004351, cli's sim test).
      for (const result of [await tiny(32, 7, orderer), await tiny(148, 5, orderer, 'mutex', true)]) {
        expect(result.violations, result.rerun).toEqual([])
        expect(result.operations, result.rerun).toBeGreaterThan(140) // mutex: 144 (each client's lock-unlock pairs)
      }
    })

    it(`every check passes on ${seeds} seeds: kv, 3, 5 and 7 replicas, slow links and delay spikes`, async () => {
      const failures: SimulationResult[] = []
      for (let seed = firstSeed; seed < firstSeed + seeds; seed++) {
        const result = await tiny(seed, [3, 5, 7][seed % 3]!, orderer)
        if (!result.ok) failures.push(result)
      }
      expect(failures, describeFailures(failures)).toEqual([])
    })
  })
})
