import { describe, expect, it } from 'vitest'
import { kv } from '@lockstep/machines'
import type { OrdererContext } from '@lockstep/interface'
import { orderers } from './orderers'
import { SimCluster } from '@lockstep/testkit'

describe.each(orderers)('SimCluster clocks ($name)', (orderer) => {
  it("each replica's orderer reads its own clock, drawn from the seed within the bounds, and a restarted replica keeps it", async () => {
    const contexts = new Map<string, OrdererContext>()
    const c = new SimCluster({
      machine: kv,
      orderer: (ctx) => {
        contexts.set(ctx.self, ctx)
        return orderer.make()(ctx)
      },
      seed: 3,
      clocks: { maxOffsetMs: 20, maxDriftPpm: 100 },
    })
    await c.start()
    await c.runFor(100)
    const offsets = c.replicaIds.map((id) => c.clock(id).offsetMs)
    expect(new Set(offsets).size).toBe(3)
    for (const id of c.replicaIds) {
      expect(Math.abs(c.clock(id).offsetMs)).toBeLessThanOrEqual(20)
      expect(Math.abs(c.clock(id).driftPpm)).toBeLessThanOrEqual(100)
      expect(contexts.get(id)!.clock.now()).toBe(c.clock(id).now())
    }
    c.clock('r2').setOffset(500)
    expect(contexts.get('r2')!.clock.now()).toBeGreaterThan(c.scheduler.now() + 499)
    await c.crash('r2')
    await c.restart('r2')
    expect(contexts.get('r2')!.clock.now()).toBe(c.clock('r2').now())
    expect(c.clock('r2').offsetMs).toBe(500)
    await c.stop()
  })

  it('without clocks every replica reads the virtual time', async () => {
    const contexts = new Map<string, OrdererContext>()
    const c = new SimCluster({ machine: kv, orderer: (ctx) => (contexts.set(ctx.self, ctx), orderer.make()(ctx)), seed: 3 })
    await c.start()
    await c.runFor(77)
    for (const id of c.replicaIds) expect(contexts.get(id)!.clock.now()).toBe(c.scheduler.now())
    await c.stop()
  })
})
