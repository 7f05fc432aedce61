import { describe, expect, it } from 'vitest'
import type { LockstepClient } from '@lockstep/client'
import { kv } from '@lockstep/machines'
import { orderers } from './orderers'
import { SimCluster, type SimClusterOptions } from '@lockstep/testkit'

/** A 3-replica kv cluster on the given orderer whose replicas report every incarnation, delivery, view and crash. */
async function observedCluster(orderer: (typeof orderers)[number], options: Partial<SimClusterOptions> = {}) {
  const seen: string[] = []
  const c = new SimCluster({
    machine: kv,
    orderer: orderer.make(),
    replicas: 3,
    seed: 4,
    observeReplica: (replica, incarnation) => {
      seen.push(`${replica}.${incarnation} started`)
      return {
        onDeliver: (position, request, executed) => seen.push(`${replica}.${incarnation} delivered ${request.client}#${request.seq} at ${position}${executed ? '' : ' (duplicate)'}`),
        onViewInstalled: (view) => seen.push(`${replica}.${incarnation} view ${view.members.join(',')}`),
        onCrash: () => seen.push(`${replica}.${incarnation} crashed`),
      }
    },
    ...options,
  })
  await c.start()
  return { c, seen }
}
const put = (c: SimCluster, client: LockstepClient, key: string) => c.until(client.submit({ name: 'put', args: { key, value: 'v' } }))

describe.each(orderers)('SimCluster observers and restarts ($name)', (orderer) => {
  it('reports each incarnation of each replica, what it delivered, its views and its crash', async () => {
    const { c, seen } = await observedCluster(orderer)
    const alice = await c.client('alice', ['r1'], 100)
    await put(c, alice, 'a')
    expect(await c.runUntil(() => c.converged(), 5_000)).toBe(true)
    expect(seen.filter((line) => line.includes('started'))).toEqual(['r1.0 started', 'r2.0 started', 'r3.0 started'])
    expect(seen.filter((line) => line.includes('delivered')).sort()).toEqual(['r1.0 delivered alice#1 at 1', 'r2.0 delivered alice#1 at 1', 'r3.0 delivered alice#1 at 1'])
    c.crashNow('r3')
    await put(c, alice, 'b')
    await c.rejoin('r3')
    expect(await c.runUntil(() => c.converged() && c.running().length === 3 && c.host('r1').engine.view.members.length === 3, 10_000)).toBe(true)
    await put(c, alice, 'c')
    expect(await c.runUntil(() => c.converged(), 5_000)).toBe(true)
    expect(seen).toContain('r3.0 crashed')
    expect(seen).toContain('r3.1 started')
    expect(seen).toContain('r1.0 view r1,r2') // r3 removed …
    expect(seen).toContain('r1.0 view r1,r2,r3') // … and added back
    expect(seen).toContain('r3.1 delivered alice#3 at 3') // the new incarnation took positions 1–2 by state transfer
    expect(seen.filter((line) => line.startsWith('r3.0 delivered'))).toEqual(['r3.0 delivered alice#1 at 1'])
    await c.stop()
  })

  it('tells client observers about each request and reply', async () => {
    const { c } = await observedCluster(orderer)
    const events: string[] = []
    const bob = await c.client('bob', { replicas: ['r2', 'r1'], retryAfterMs: 100, observer: { submitted: (seq) => events.push(`submitted ${seq}`), replied: (seq) => events.push(`replied ${seq}`) } })
    await put(c, bob, 'x')
    await put(c, bob, 'y')
    expect(events).toEqual(['submitted 1', 'replied 1', 'submitted 2', 'replied 2'])
    await c.stop()
  })

  it('stamps every trace line with virtual time and the replica', async () => {
    const lines: string[] = []
    const { c } = await observedCluster(orderer, { trace: (line) => lines.push(line) })
    c.crashNow('r2')
    await c.runFor(1_000)
    expect(lines.length).toBeGreaterThan(0)
    for (const line of lines) expect(line).toMatch(/^ *\d+\.\d r[123] (debug|info|warn|error) /)
    await c.stop()
  })

  it('crashNow crashes the disk within the event; rejoin keeps the disk, restart brings an empty one', async () => {
    const { c } = await observedCluster(orderer, { durable: true })
    const alice = await c.client('alice', ['r1', 'r2', 'r3'], 100)
    await put(c, alice, 'a')
    const disk = c.disks.get('r2')!
    c.crashNow('r2')
    expect(disk.stats().crashes).toBe(1) // no await needed: the disk crashed with the host
    expect(c.isRunning('r2')).toBe(false)
    await c.rejoin('r2')
    expect(c.disks.get('r2')).toBe(disk)
    expect(await c.runUntil(() => c.converged() && c.running().length === 3 && c.host('r1').engine.view.members.length === 3, 10_000)).toBe(true)
    await c.crash('r2')
    await c.restart('r2')
    expect(c.disks.get('r2')).not.toBe(disk)
    expect(await c.runUntil(() => c.converged() && c.running().length === 3 && c.host('r1').engine.view.members.length === 3, 10_000)).toBe(true)
    expect(c.host('r2').engine.stateJSON()).toEqual({ a: 'v' })
    await c.stop()
  })

  it('without membership, a crash never changes the view', async () => {
    const { c, seen } = await observedCluster(orderer, { membership: false })
    const alice = await c.client('alice', ['r1'], 100)
    await put(c, alice, 'a')
    c.crashNow('r3')
    await c.runFor(2_000)
    expect(c.host('r1').engine.view.members).toEqual(['r1', 'r2', 'r3'])
    expect(seen.filter((line) => line.includes(' view '))).toEqual([])
    await c.stop()
  })
})
