import { describe, expect, it } from 'vitest'
import { realtimeSimulation } from '@lockstep/order-realtime'
import { simulate, workloads, type FaultKind, type SimulationResult } from '@lockstep/testkit'

/** Every kind of fault, as world-simulator.test.ts runs them for the Lamport orderer. */
const everyFault: FaultKind[] = ['crash', 'restart', 'amnesia', 'partition', 'slow', 'delay', 'blackout', 'client-restart']

/** Seeds per (machine, replicas, durable) combination: ~60 in CI; `LOCKSTEP_SEEDS=2000` for a long run. */
const seedsPerCombination = Number(process.env.LOCKSTEP_SEEDS ?? 60)

const run = (seed: number, machine: string, replicas: number, durable: boolean) =>
  simulate({
    seed,
    workload: workloads[machine]!,
    orderer: realtimeSimulation,
    replicas,
    clients: 1 + (seed % 8),
    ops: 40,
    faults: durable ? everyFault : everyFault.filter((kind) => kind !== 'blackout'),
    durable,
    overlap: true,
  })

function describeFailures(failures: readonly SimulationResult[]): string {
  return failures.slice(0, 5).map((f) => `seed ${f.seed}: ${f.violations.slice(0, 3).join('; ')}\n  rerun: ${f.rerun}`).join('\n')
}

describe('the world simulator with the real-time orderer', () => {
  for (const durable of [false, true]) {
    for (const machine of ['mutex', 'register', 'kv']) {
      for (const replicas of [3, 5]) {
        it(`${machine} on ${replicas} replicas${durable ? ', durable' : ''}: every check passes on ${seedsPerCombination} seeds with overlapping faults`, async () => {
          const failures: SimulationResult[] = []
          let operations = 0
          for (let i = 0; i < seedsPerCombination; i++) {
            const result = await run(1 + i, machine, replicas, durable)
            operations += result.operations
            if (!result.ok) failures.push(result)
          }
          expect(failures, describeFailures(failures)).toEqual([])
          expect(operations).toBeGreaterThan(seedsPerCombination)
        }, 600_000)
      }
    }
  }
})
