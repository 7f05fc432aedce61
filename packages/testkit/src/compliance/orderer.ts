import { describe, expect, it } from 'vitest'
import { noLivenessOwed, simulate, type OrdererSpec, type SimulationResult } from '../sim/simulator'
import type { FaultKind } from '../sim/faults'
import { workloads } from '../sim/workloads'

/** Options of {@link ordererCompliance}. */
export interface OrdererComplianceOptions {
  /** Seeds per (machine, cluster size). Default 340: 3 machines × 2 sizes × 340 = 2,040 seeds. */
  readonly seedsPerConfig?: number
  /** Cluster sizes. Default [3, 5]. */
  readonly replicas?: readonly number[]
  /** Built-in workloads to run. Default mutex, register, kv. */
  readonly machines?: readonly string[]
  /** Requests per run. Default 40. */
  readonly ops?: number
  /** Clients per run are 1..maxClients, drawn from the seed. Default 8. */
  readonly maxClients?: number
  /** Faults to inject in every run (the orderer must then be crash-tolerant). Default none. */
  readonly faults?: readonly FaultKind[]
  /** Replicas with disks that lose unsynced writes when they crash (see `simulate`). Default false. */
  readonly durable?: boolean
  /** Overlapping faults under the strict budget, or one at a time (see `simulate`'s `overlap`). Default: `simulate`'s default. */
  readonly overlap?: boolean
  /** Links between replicas hold messages for a crashed replica's next run, as TCP links do (see `simulate`'s `heldForRestart`). Default false. */
  readonly heldForRestart?: boolean
  /**
   * With overlapping faults, how many runs of each configuration may end owing no liveness: a blackout left more
   * than F replicas without their state (`faultBudget.exceededByBlackoutAtEnd`), or, without disks, the replicas
   * holding the state failed while the others took it (`faultBudget.stateMayBeLostAtEnd`). Such a run's unfinished
   * requests are not checked, so a bug that stalls the cluster at that moment would pass unseen: the suite counts
   * these runs and fails past this many. Default 0 (the built-in orderers end no run of the CI seeds so).
   */
  readonly livenessExcusesAllowed?: number
}

/**
 * The compliance suite every ordering strategy must pass: many seeded
 * simulated runs per machine and cluster size (random delays, cross-link
 * reordering, retries at other replicas), each checked for Agreement and
 * Order, exactly-once execution, completeness, equal state digests, and
 * linearizability or mutual exclusion. A failure prints the command that
 * reruns its seed. Call it from a test file:
 *
 *     ordererCompliance({ name: 'lamport', create: () => lamport() })
 *     ordererCompliance(spec, { faults: ['crash', 'restart', 'partition'] })   // crash-tolerant orderers
 */
export function ordererCompliance(spec: OrdererSpec, options: OrdererComplianceOptions = {}): void {
  const seedsPerConfig = options.seedsPerConfig ?? 340
  const ops = options.ops ?? 40
  const maxClients = options.maxClients ?? 8
  const faults = options.faults ?? []
  const durable = options.durable ?? false
  const overlap = options.overlap
  const livenessExcusesAllowed = options.livenessExcusesAllowed ?? 0
  const heldForRestart = options.heldForRestart === true
  const mode = (overlap === undefined ? '' : overlap ? ', overlapping' : ', one at a time') + (heldForRestart ? ', links held for restarts' : '')
  const title = faults.length > 0 ? `orderer compliance under faults (${faults.join(', ')}${durable ? ', durable' : ''}${mode}): ${spec.name}` : `orderer compliance: ${spec.name}`
  describe(title, () => {
    for (const machine of options.machines ?? ['mutex', 'register', 'kv']) {
      for (const replicas of options.replicas ?? [3, 5]) {
        const seeds = Array.from({ length: seedsPerConfig }, (_, i) => 1000 * replicas + i)
        it(`${machine} on ${replicas} replicas passes every check on ${seedsPerConfig} seeds`, async () => {
          const failures: SimulationResult[] = []
          const excused: SimulationResult[] = []
          let operations = 0
          for (const seed of seeds) {
            const result = await simulate({ seed, workload: workloads[machine]!, orderer: spec, replicas, clients: 1 + (seed % maxClients), ops, faults, durable, overlap, ...(heldForRestart && { heldForRestart }) })
            operations += result.operations
            if (!result.ok) failures.push(result)
            else if (noLivenessOwed(result) !== undefined) excused.push(result)
          }
          expect(failures, describeFailures(failures)).toEqual([])
          expect(excused.length, describeExcused(excused, livenessExcusesAllowed)).toBeLessThanOrEqual(livenessExcusesAllowed)
          // Every seed did real work: a run that completes nothing would pass the other checks vacuously.
          expect(operations).toBeGreaterThanOrEqual(seedsPerConfig * Math.min(ops, 2))
        }, 600_000)
      }
    }

    if (faults.length > 0) return
    it('a single replica orders and executes everything', async () => {
      const result = await simulate({ seed: 1, workload: workloads.kv!, orderer: spec, replicas: 1, clients: 3, ops: 30 })
      expect(result.violations).toEqual([])
      expect(result.operations).toBe(30)
    })

    it('runs are reproducible from their seed', async () => {
      const a = await simulate({ seed: 4242, workload: workloads.register!, orderer: spec, replicas: 3, clients: 4, ops: 30 })
      const b = await simulate({ seed: 4242, workload: workloads.register!, orderer: spec, replicas: 3, clients: 4, ops: 30 })
      expect(b).toEqual(a)
    })
  })
}

function describeExcused(excused: readonly SimulationResult[], allowed: number): string {
  const runs = excused.slice(0, 5).map((r) => `seed ${r.seed}: ${r.operations} requests done, then no liveness owed (${noLivenessOwed(r)})\n  rerun: ${r.rerun}`)
  return [`${excused.length} runs ended owing no liveness (at most ${allowed} allowed: livenessExcusesAllowed); their unfinished requests were not checked`, ...runs].join('\n')
}

function describeFailures(failures: readonly SimulationResult[]): string {
  const first = failures.slice(0, 5).map((f) => `seed ${f.seed}: ${f.violations.join('; ')}\n  rerun: ${f.rerun}`)
  const all = failures.length > 5 ? [`${failures.length} seeds failed: ${failures.map((f) => f.seed).join(', ')}`] : []
  return [...first, ...all].join('\n')
}
