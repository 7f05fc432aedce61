import { describe, expect, it } from 'vitest'
import type { OrdererFactory } from '@lockstep/interface'
import { arrivalOrderer, simulate, workloads, type Workload } from '../src/index'


/** A broken orderer that delivers every request twice. */
const deliversTwice: OrdererFactory = (ctx) => ({
  name: 'twice',
  submit(request) {
    ctx.deliver(request)
    ctx.deliver(request)
  },
  receive() {},
  tick() {},
  flush() {},
  viewChanged() {},
  pendingCount: () => 0,
})

async function firstFailure(workload: Workload, orderer: OrdererFactory, replicas = 3) {
  for (let seed = 1; seed <= 200; seed++) {
    const result = await simulate({ seed, workload, orderer: { name: 'broken', create: () => orderer }, replicas, clients: 4, ops: 40 })
    if (!result.ok) return result
  }
  return undefined
}

describe('the simulator catches broken orderers', () => {
  it('finds replicas that deliver in different orders (kv)', async () => {
    const failure = await firstFailure(workloads.kv!, arrivalOrderer)
    expect(failure?.violations.join('\n')).toMatch(/order: at position \d+ r1 delivered/)
    expect(failure?.rerun).toContain('--order broken')
  })

  it('finds a register history that is not linearizable when replicas answer from diverged states', async () => {
    const failure = await firstFailure(workloads.register!, arrivalOrderer)
    expect(failure).toBeDefined()
  })

  it('finds two holders of the mutex when the order differs', async () => {
    // Clients talk to different replicas, which grant the lock independently.
    const failure = await firstFailure(workloads.mutex!, arrivalOrderer)
    expect(failure?.violations.join('\n')).toMatch(/mutual exclusion violated|order:/)
  })

  it('an orderer that delivers every request twice still gets each executed once (session table)', async () => {
    // The engine's session table must turn the second delivery into a duplicate, never a second execution.
    const result = await simulate({ seed: 3, workload: workloads.kv!, orderer: { name: 'twice', create: () => deliversTwice }, replicas: 1, clients: 3, ops: 30 })
    expect(result.violations.filter((v) => v.includes('exactly-once'))).toEqual([])
    expect(result.ok).toBe(true)
  })

  it('mutual exclusion check flags overlapping holders', async () => {
    const { checkMutualExclusion } = await import('../src/index')
    expect(checkMutualExclusion([
      { kind: 'grant', client: 'a', tick: 1, time: 0 },
      { kind: 'grant', client: 'b', tick: 2, time: 1 },
      { kind: 'release', client: 'a', tick: 3, time: 2 },
    ])).toHaveLength(1)
    expect(checkMutualExclusion([
      { kind: 'grant', client: 'a', tick: 1, time: 0 },
      { kind: 'release', client: 'a', tick: 2, time: 0 },
      { kind: 'grant', client: 'b', tick: 3, time: 0 },
    ])).toEqual([])
  })
})
