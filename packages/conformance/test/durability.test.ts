import { describe, expect, it } from 'vitest'
import { kv } from '@lockstep/machines'
import type { LockstepClient } from '@lockstep/client'
import { SeededRandom, SimCluster } from '@lockstep/testkit'
import { orderers } from './orderers'

describe.each(orderers)('durability (virtual time, disks that lose what was not synced) ($name)', (orderer) => {
  it('a whole cluster killed at once and restarted from its disks resumes with every acknowledged request', async () => {
    const c = new SimCluster({ machine: kv, orderer: orderer.make(), replicas: 3, durable: true, seed: 5 })
    await c.start()
    const alice = await c.client('alice', ['r1', 'r2', 'r3'], 100)
    for (let i = 0; i < 30; i++) await c.until(alice.submit({ name: 'put', args: { key: `k${i}`, value: String(i) } }))
    for (const id of c.replicaIds) await c.crash(id)
    for (const id of c.replicaIds) await c.restartFromDisk(id)
    expect(await c.runUntil(() => c.converged(), 10_000)).toBe(true)
    const state = c.host('r1').engine.stateJSON() as Record<string, string>
    for (let i = 0; i < 30; i++) expect(state[`k${i}`]).toBe(String(i))
    // And it serves again, exactly-once sessions included.
    expect(await c.until(alice.call({ name: 'get', args: { key: 'k29' } }))).toEqual([{ value: '29' }])
    await c.stop()
  })

  it('a replica restarted from its disk while the others live rejoins with the same state', async () => {
    const c = new SimCluster({ machine: kv, orderer: orderer.make(), replicas: 3, durable: true, seed: 6 })
    await c.start()
    const alice = await c.client('alice', ['r1', 'r2', 'r3'], 100)
    for (let i = 0; i < 10; i++) await c.until(alice.submit({ name: 'append', args: { key: 'log', value: String(i) } }))
    await c.crash('r3')
    for (let i = 10; i < 20; i++) await c.until(alice.submit({ name: 'append', args: { key: 'log', value: String(i) } }))
    await c.restartFromDisk('r3')
    expect(await c.runUntil(() => c.converged() && c.running().length === 3 && c.host('r1').engine.view.members.length === 3, 10_000)).toBe(true)
    expect(c.host('r3').engine.stateDigest()).toBe(c.host('r1').engine.stateDigest())
    await c.stop()
  })

  it('over many seeds, a replica whose disk fills up while clients write stops by itself; the others go on, nothing acknowledged is lost, and with room again it rejoins', async () => {
    // The process-level fault of cli/test/disk-full.test.ts and the chaos `full` nemesis, on virtual time: the
    // disk refuses the write the engine hands it (an append that throws) or the sync after it, at a random moment.
    for (let seed = 1; seed <= 12; seed++) {
      const random = new SeededRandom(seed)
      const c = new SimCluster({ machine: kv, orderer: orderer.make(), replicas: 3, durable: true, seed })
      await c.start()
      const acked = new Map<string, string>()
      const clients = await Promise.all([0, 1].map((i) => c.client(`c${i}`, i === 0 ? ['r3', 'r1', 'r2'] : ['r1', 'r2', 'r3'], 100)))
      const loops = putUntilStopped(clients, acked)
      await c.runUntil(() => c.converged(), 5_000)
      await c.runFor(random.int(20, 200))
      c.disks.get('r3')!.fill()
      expect(await c.runUntil(() => c.host('r3').failure !== undefined, 5_000), `seed ${seed}: r3 stops by itself`).toBe(true)
      expect(c.host('r3').isRunning, `seed ${seed}`).toBe(false)
      const before = acked.size
      expect(await c.runUntil(() => acked.size > before + 5, 10_000), `seed ${seed}: r1 and r2 go on`).toBe(true)
      // Room again: the replica's process is started anew from its disk.
      await c.crash('r3')
      await c.restartFromDisk('r3')
      expect(await c.runUntil(() => c.converged() && c.running().length === 3 && c.host('r1').engine.view.members.length === 3, 20_000), `seed ${seed}: r3 rejoins`).toBe(true)
      for (const client of clients) await client.stop()
      await Promise.all(loops)
      expect(await c.runUntil(() => c.converged(), 10_000), `seed ${seed}: converged`).toBe(true)
      for (const id of c.replicaIds) {
        const state = c.host(id).engine.stateJSON() as Record<string, string>
        for (const [key, value] of acked) expect(state[key], `seed ${seed}: ${id} has acknowledged ${key}`).toBe(value)
      }
      await c.stop()
    }
  })

  it('over many seeds, killing the whole cluster at a random moment never loses an acknowledged request', async () => {
    for (let seed = 1; seed <= 40; seed++) {
      const random = new SeededRandom(seed)
      const c = new SimCluster({ machine: kv, orderer: orderer.make(), replicas: random.pick([3, 5]), durable: true, seed })
      await c.start()
      const acked = new Map<string, string>()
      const clients = await Promise.all([0, 1, 2].map((i) => c.client(`c${i}`, [...c.replicaIds.slice(i % 3), ...c.replicaIds.slice(0, i % 3)], 100)))
      const loops = putUntilStopped(clients, acked)
      await c.runUntil(() => c.converged(), 5_000) // the new cluster has started
      await c.runFor(random.int(60, 400))
      for (const id of c.replicaIds) await c.crash(id)
      for (const id of c.replicaIds) await c.restartFromDisk(id)
      expect(await c.runUntil(() => c.converged(), 20_000), `seed ${seed}: the cluster recovers`).toBe(true)
      const state = c.host('r1').engine.stateJSON() as Record<string, string>
      for (const [key, value] of acked) expect(state[key], `seed ${seed}: acknowledged ${key}`).toBe(value)
      expect(acked.size, `seed ${seed}: work was done`).toBeGreaterThan(0)
      await c.stop()
      await Promise.all(loops) // each ends once its client is stopped
    }
  })
})

/**
 * Each client puts fresh keys (k0, k1, … across all of them) one after another until it is stopped; `acked` gets
 * every put answered. Resolves, one promise per client, once each is stopped.
 */
function putUntilStopped(clients: readonly LockstepClient[], acked: Map<string, string>): Promise<void>[] {
  let n = 0
  return clients.map(async (client) => {
    for (;;) {
      const key = `k${n++}`
      const value = `${client.id}-${n}`
      const reply = await client.submit({ name: 'put', args: { key, value } }).catch(() => undefined)
      if (!reply) return // the client was stopped
      acked.set(key, value)
    }
  })
}
