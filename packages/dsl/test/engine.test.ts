import { describe, expect, it } from 'vitest'
import { compile } from '../src/index'
import { readSpec } from './helpers'

/**
 * The interpreted machines inside the real replica engine: whole clusters on
 * virtual time (the testkit simulator, under each orderer), checked for
 * agreement, order, exactly-once, equal state digests and mutual exclusion.
 * Loaded by name at run time: @lockstep/dsl itself depends on neither.
 */
async function load(name: string): Promise<any> {
  const specifier = `@lockstep/${name}`
  return import(/* @vite-ignore */ specifier)
}

/** The safe mutex grants with a fencing token (an int); tokens must grow with every grant, across clients. */
function safeMutexWorkload(testkit: any, machine: unknown) {
  const grants: { token: number; tick: number }[] = []
  return {
    name: 'dsl safe-mutex',
    machine,
    async runClient(ctx: any) {
      for (let issued = 0; issued + 2 <= Math.max(2, ctx.requests); issued += 2) {
        const reply = await ctx.client.submit({ name: 'acquire' })
        if (!reply.ok) throw new Error(`acquire failed: ${reply.error.message}`)
        let grant = reply.outputs.find((o: { value: unknown }) => typeof o.value === 'number')
        grant ??= await ctx.client.nextNotice((n: { value: unknown }) => typeof n.value === 'number')
        const tick = ctx.tick()
        grants.push({ token: grant.value, tick })
        ctx.note({ kind: 'grant', client: ctx.id, tick, time: ctx.now() })
        await ctx.sleep(ctx.random.int(0, 5))
        ctx.note({ kind: 'release', client: ctx.id, tick: ctx.tick(), time: ctx.now() })
        const released = await ctx.client.submit({ name: 'release' })
        if (!released.ok || !released.outputs.some((o: { value: unknown }) => o.value === 'OK')) throw new Error('release was not acknowledged with OK')
        await ctx.sleep(ctx.random.int(0, 3))
      }
    },
    check(record: any): string[] {
      const violations = testkit.checkMutualExclusion(record.events)
      const ordered = [...grants].sort((a, b) => a.tick - b.tick)
      ordered.forEach((grant, i) => {
        if (i > 0 && grant.token <= ordered[i - 1]!.token) violations.push(`fencing token ${grant.token} did not grow after ${ordered[i - 1]!.token}`)
      })
      grants.length = 0
      return violations
    },
  }
}

/** The simulation specs of both orderers: every scenario here runs under each. */
async function simulations(): Promise<any[]> {
  return [(await load('order-lamport')).lamportSimulation, (await load('order-realtime')).realtimeSimulation]
}

describe('DSL machines in the replica engine', () => {
  it("seed-mutex.sm under the seed mutex's workload: 3 replicas, 3 clients, 5 seeds", async () => {
    const testkit = await load('testkit')
    const machine = compile(readSpec('seed-mutex.sm'), { file: 'seed-mutex.sm' }).machine!
    const workload = { ...testkit.mutexWorkload, name: 'dsl seed-mutex', machine }
    for (const orderer of await simulations()) {
      for (let seed = 1; seed <= 5; seed++) {
        const result = await testkit.simulate({ seed, workload, orderer, replicas: 3, clients: 3, ops: 40 })
        expect(result.violations, `seed ${seed}: ${result.rerun}`).toEqual([])
      }
    }
  })

  it('safe-mutex.sm: mutual exclusion and growing fencing tokens, 3 replicas, 3 clients, 5 seeds', async () => {
    const testkit = await load('testkit')
    const machine = compile(readSpec('safe-mutex.sm'), { file: 'safe-mutex.sm' }).machine!
    for (const orderer of await simulations()) {
      for (let seed = 1; seed <= 5; seed++) {
        const result = await testkit.simulate({ seed, workload: safeMutexWorkload(testkit, machine), orderer, replicas: 3, clients: 3, ops: 40 })
        expect(result.violations, `seed ${seed}: ${result.rerun}`).toEqual([])
        expect(result.ok).toBe(true)
      }
    }
  })
})
