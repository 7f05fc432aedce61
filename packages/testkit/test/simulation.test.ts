import { describe, expect, it } from 'vitest'
import { simulate, workloads, type SimulationResult } from '../src/index'

/**
 * The simulator's main job in CI: thousands of seeded runs of whole clusters
 * (3 and 5 replicas, 1–8 clients, random delays and cross-link reordering)
 * across the mutex, register and kv machines. Every run is checked for
 * Agreement and Order, exactly-once execution, completeness, equal state
 * digests, and linearizability or mutual exclusion.
 */
const SEEDS_PER_CONFIG = 340 // 3 machines × 2 cluster sizes × 340 = 2,040 seeds

function report(failures: SimulationResult[]): string {
  return failures
    .slice(0, 5)
    .map((f) => `seed ${f.seed}: ${f.violations.join('; ')}\n  rerun: ${f.rerun}`)
    .join('\n')
}

describe('simulated clusters with Lamport ordering', () => {
  for (const machine of ['mutex', 'register', 'kv']) {
    for (const replicas of [3, 5]) {
      it(`${machine} on ${replicas} replicas passes every check on ${SEEDS_PER_CONFIG} seeds`, async () => {
        const failures: SimulationResult[] = []
        let operations = 0
        for (let i = 0; i < SEEDS_PER_CONFIG; i++) {
          const seed = 1000 * replicas + i
          const result = await simulate({ seed, workload: workloads[machine]!, replicas, clients: 1 + (seed % 8), ops: 40 })
          operations += result.operations
          if (!result.ok) failures.push(result)
        }
        expect(failures, report(failures)).toEqual([])
        expect(operations).toBeGreaterThan(SEEDS_PER_CONFIG * 30)
      }, 300_000)
    }
  }
})

describe('the simulator', () => {
  it('is deterministic: the same seed gives the same run', async () => {
    const a = await simulate({ seed: 77, workload: workloads.kv!, replicas: 3, clients: 5, ops: 60 })
    const b = await simulate({ seed: 77, workload: workloads.kv!, replicas: 3, clients: 5, ops: 60 })
    expect(b).toEqual(a)
    const c = await simulate({ seed: 78, workload: workloads.kv!, replicas: 3, clients: 5, ops: 60 })
    expect(c.history).not.toEqual(a.history)
  })

  it('prints the exact command that reruns a seed', async () => {
    const result = await simulate({ seed: 5, workload: workloads.register!, replicas: 5, clients: 2, ops: 10 })
    expect(result.rerun).toBe('npx lockstep sim --machine register --replicas 5 --order lamport --clients 2 --ops 10 --seed 5')
  })
})
