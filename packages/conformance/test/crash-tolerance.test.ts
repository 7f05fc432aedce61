import { describe, expect, it } from 'vitest'
import { kv } from '@lockstep/machines'
import { SimCluster } from '@lockstep/testkit'
import type { LockstepClient } from '@lockstep/client'
import { lamport } from '@lockstep/order-lamport'



let c: SimCluster
async function cluster(replicas: number, seed = 1) {
  c = new SimCluster({ machine: kv, orderer: lamport({ heartbeatMs: 10 }), replicas, seed })
  await c.start()
  return c
}
/** Submits a put and runs virtual time until it is answered. */
const put = (client: LockstepClient, key: string, value: string) => c.until(client.submit({ name: 'put', args: { key, value } }))

describe('crash tolerance (virtual time)', () => {
  it('a partitioned minority delivers nothing while the majority continues, and catches up to identical state after healing', async () => {
    const c = await cluster(5)
    const onMajority = await c.client('alice', ['r1', 'r2', 'r3'])
    const onMinority = await c.client('bob', ['r4'], 1_000) // retries, but only at r4
    await put(onMajority, 'before', '1')
    expect(await c.runUntil(() => c.converged(), 5_000)).toBe(true)
    c.partition(['r4', 'r5'])
    const frozenAt = { r4: c.host('r4').engine.position, r5: c.host('r5').engine.position }
    let bobAnswered = false
    void onMinority.submit({ name: 'put', args: { key: 'bob', value: 'x' } }).then(() => (bobAnswered = true))
    for (let i = 0; i < 20; i++) await put(onMajority, `k${i}`, String(i))
    await c.runFor(2_000)
    // The minority never installs a view and never delivers; the majority moved on without it.
    expect(c.host('r4').engine.position).toBe(frozenAt.r4)
    expect(c.host('r5').engine.position).toBe(frozenAt.r5)
    expect(bobAnswered).toBe(false)
    expect(c.host('r1').engine.view.members).toEqual(['r1', 'r2', 'r3'])
    expect(c.host('r1').engine.position).toBeGreaterThanOrEqual(frozenAt.r4 + 20)
    c.heal()
    expect(await c.runUntil(() => c.converged() && bobAnswered, 10_000)).toBe(true)
    expect(c.running().map((h) => h.engine.view.members.length)).toEqual([5, 5, 5, 5, 5])
    expect(new Set(c.running().map((h) => h.engine.stateDigest())).size).toBe(1)
    await c.stop()
  })

  it('with more than F replicas cut off the cluster stops serving rather than diverging, and resumes when enough return', async () => {
    const c = await cluster(5)
    const alice = await c.client('alice', ['r1', 'r2'], 100)
    await put(alice, 'a', '1')
    expect(await c.runUntil(() => c.converged(), 5_000)).toBe(true)
    const before = c.running().map((h) => h.engine.position)
    c.isolateAll() // five singletons: no majority anywhere
    let answered = false
    void alice.submit({ name: 'put', args: { key: 'b', value: '2' } }).then(() => (answered = true))
    await c.runFor(5_000)
    expect(answered).toBe(false)
    expect(c.running().map((h) => h.engine.position)).toEqual(before)
    expect(c.running().every((h) => h.engine.view.id === c.host('r1').engine.view.id)).toBe(true)
    c.heal()
    expect(await c.runUntil(() => answered && c.converged(), 20_000)).toBe(true)
    expect(c.host('r3').engine.stateJSON()).toEqual({ a: '1', b: '2' })
    await c.stop()
  })

  it('a crashed replica is removed by a majority, the others keep serving, and a restarted one rejoins with an equal state digest', async () => {
    const c = await cluster(3)
    const alice = await c.client('alice', ['r2', 'r1', 'r3'], 100)
    for (let i = 0; i < 5; i++) await put(alice, `k${i}`, 'v')
    await c.crash('r2')
    const crashedAt = c.scheduler.now()
    for (let i = 5; i < 10; i++) await put(alice, `k${i}`, 'v') // retried at r1 once r2 is silent
    expect(c.host('r1').engine.view.members).toEqual(['r1', 'r3'])
    const resumedAfterMs = c.scheduler.now() - crashedAt
    expect(resumedAfterMs).toBeLessThan(2_000)
    await c.restart('r2')
    expect(await c.runUntil(() => c.converged(), 10_000)).toBe(true)
    const digests = c.running().map((h) => h.engine.stateDigest())
    expect(new Set(digests).size).toBe(1)
    expect(c.host('r2').engine.stateJSON()).toEqual(c.host('r1').engine.stateJSON())
    // It serves again: a client that talks only to r2 gets answers.
    const bob = await c.client('bob', ['r2'], 60_000)
    expect(await c.until(bob.call({ name: 'get', args: { key: 'k9' } }))).toEqual([{ value: 'v' }])
    await c.stop()
  })

  it('retries after a crash stay exactly-once: the session table travels with the state', async () => {
    const c = await cluster(3)
    const alice = await c.client('alice', ['r1', 'r2', 'r3'], 100)
    await c.until(alice.submit({ name: 'append', args: { key: 'log', value: 'a' } }))
    const second = alice.submit({ name: 'append', args: { key: 'log', value: 'b' } })
    await c.runFor(1) // the request is on its way to r1 …
    await c.crash('r1') // … which dies; alice retries at r2
    await c.until(second)
    await c.restart('r1')
    expect(await c.runUntil(() => c.converged(), 10_000)).toBe(true)
    for (const host of c.running()) expect(host.engine.stateJSON()).toEqual({ log: 'ab' })
    await c.stop()
  })
})

describe('membership commands for operators', () => {
  it('removes a replica through an ordered view change, keeps it out, and admits it back with the same state', async () => {
    c = new SimCluster({ machine: kv, orderer: lamport({ heartbeatMs: 10 }), replicas: 3, seed: 2 })
    await c.start()
    const alice = await c.client('alice', ['r1', 'r2'], 100)
    await put(alice, 'a', '1')
    c.host('r1').removeReplica('r3')
    expect(await c.runUntil(() => c.host('r1').engine.view.members.join() === 'r1,r2' && c.host('r3').engine.status === 'joining', 5_000)).toBe(true)
    await put(alice, 'b', '2')
    await c.runFor(2_000)
    expect(c.host('r3').engine.status).toBe('joining') // its requests to join are refused
    expect(c.host('r2').engine.view.members).toEqual(['r1', 'r2'])
    c.host('r2').admitReplica('r3')
    expect(await c.runUntil(() => c.converged() && c.host('r3').engine.view.members.length === 3, 5_000)).toBe(true)
    expect(c.host('r3').engine.stateJSON()).toEqual({ a: '1', b: '2' })
    await c.stop()
  })

  it('adds a configured spare: it joins by a view change and takes its state by transfer', async () => {
    c = new SimCluster({ machine: kv, orderer: lamport({ heartbeatMs: 10 }), replicas: 3, spares: 1, seed: 3 })
    await c.start()
    const alice = await c.client('alice', ['r1', 'r2', 'r3'], 100)
    for (let i = 0; i < 5; i++) await put(alice, `k${i}`, 'v')
    await c.startSpare('r4')
    expect(await c.runUntil(() => c.converged() && c.running().length === 4 && c.host('r1').engine.view.members.length === 4, 5_000)).toBe(true)
    await put(alice, 'k5', 'v')
    expect(await c.runUntil(() => c.converged(), 5_000)).toBe(true)
    expect(c.host('r4').engine.stateDigest()).toBe(c.host('r1').engine.stateDigest())
    await c.stop()
  })
})
