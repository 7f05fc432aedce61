import { describe, expect, it } from 'vitest'
import { simulate, workloads, type FaultKind, type SimulationResult } from '@lockstep/testkit'
import { describeFailures } from './failures'
import { orderers } from './orderers'

/**
 * Links between replicas that take up to 1.5 s to connect at first (`connectDelayMaxMs`), as TCP connections to
 * processes slow to start and listen do on a loaded machine: the cluster starts while some replicas cannot hear
 * the others yet, and faults strike as soon as the budget lets them. 30 seeds per setting in CI;
 * `LOCKSTEP_SEEDS=500` for a long run, `LOCKSTEP_SEED_FROM=5001` to start elsewhere.
 */
const seeds = Number(process.env.LOCKSTEP_SEEDS ?? 30)
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
      const failures: SimulationResult[] = []
      let operations = 0
      for (let seed = firstSeed; seed < firstSeed + seeds; seed++) {
        const result = await simulate({
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
        })
        operations += result.operations
        if (!result.ok) failures.push(result)
      }
      expect(failures, describeFailures(failures)).toEqual([])
      expect(operations).toBeGreaterThan(seeds * 90)
    })
  })
})
