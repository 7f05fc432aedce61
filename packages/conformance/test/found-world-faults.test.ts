import { describe, expect, it } from 'vitest'
import { kv } from '@lockstep/machines'
import { SimCluster } from '@lockstep/testkit'
import { orderers } from './orderers'

// The cases of "Found" in the issue on the world's faults, each as it was reproduced, on virtual time.

/** Runs until the cluster serves again, with every replica that runs in one view of all of them. */
async function settled(c: SimCluster, maxMs = 10_000): Promise<boolean> {
  return c.runUntil(() => c.converged() && c.running().every((h) => h.engine.view.members.length === c.replicaIds.length), maxMs)
}

const states = (c: SimCluster) => c.running().map((h) => `${h.engine.self}:${h.engine.status}:view ${h.engine.view.id} (${h.engine.view.members.join(',')})`).join(' ')

describe.each(orderers)('the world\'s faults (Found 2, 3, 7) ($name)', (orderer) => {
  it('Found 2: a shrunk view changes again when one of its members restarts, though the removed replica is back (quorums from the configuration)', async () => {
    const c = new SimCluster({ machine: kv, orderer: orderer.make(), replicas: 3, seed: 2 })
    await c.start()
    const alice = await c.client('alice', ['r1', 'r2', 'r3'], 100)
    await c.until(alice.submit({ name: 'put', args: { key: 'x', value: '1' } }))
    c.partition(['r3'])
    expect(await c.runUntil(() => c.host('r1').engine.view.members.join() === 'r1,r2', 5_000), 'r3 is removed').toBe(true)
    c.heal()
    await c.crash('r2') // before r3 is re-admitted
    await c.restart('r2') // without its state
    expect(await settled(c), `the cluster serves in one view of all three again: ${states(c)}`).toBe(true)
    expect(await c.until(alice.call({ name: 'get', args: { key: 'x' } }))).toEqual([{ value: '1' }])
    await c.stop()
  })

  it('Found 3: whole-cluster recovery converges when the replicas restart one after another', async () => {
    for (const [order, gapsMs] of [[['r1', 'r2', 'r3'], [35, 5]], [['r3', 'r1', 'r2'], [35, 5]], [['r2', 'r3', 'r1'], [10, 90]], [['r1', 'r3', 'r2'], [120, 1]]] as const) {
      const c = new SimCluster({ machine: kv, orderer: orderer.make(), replicas: 3, durable: true, seed: 3 })
      await c.start()
      const alice = await c.client('alice', ['r1', 'r2', 'r3'], 100)
      for (let i = 0; i < 5; i++) await c.until(alice.submit({ name: 'put', args: { key: `k${i}`, value: String(i) } }))
      for (const id of c.replicaIds) await c.crash(id)
      // Staggered: the first reports to replicas still down, then decides once the others' reports are in.
      for (const [i, id] of order.entries()) {
        await c.restartFromDisk(id)
        if (i < gapsMs.length) await c.runFor(gapsMs[i]!)
      }
      expect(await settled(c), `restart order ${order.join(', ')}: ${states(c)}`).toBe(true)
      expect(c.host('r2').engine.stateJSON()).toMatchObject({ k4: '4' })
      await c.stop()
    }
  })

  it('Found 3: two of three replicas restarted from intact disks resume service (any majority of disks)', async () => {
    const c = new SimCluster({ machine: kv, orderer: orderer.make(), replicas: 3, durable: true, seed: 4 })
    await c.start()
    const alice = await c.client('alice', ['r1', 'r2', 'r3'], 100)
    for (let i = 0; i < 5; i++) await c.until(alice.submit({ name: 'put', args: { key: `k${i}`, value: String(i) } }))
    for (const id of c.replicaIds) await c.crash(id)
    await c.restartFromDisk('r1')
    await c.restartFromDisk('r2') // r3 stays down: one replica out of three, within F
    const bob = await c.client('bob', ['r1', 'r2'], 100)
    expect(await c.until(bob.call({ name: 'get', args: { key: 'k4' } }), 20_000)).toEqual([{ value: '4' }])
    await c.stop()
  })

  it('Found 7: a late join from a replica already admitted does not add it again', async () => {
    const c = new SimCluster({ machine: kv, orderer: orderer.make(), replicas: 3, seed: 7 })
    await c.start()
    const alice = await c.client('alice', ['r1', 'r2'], 100)
    await c.until(alice.submit({ name: 'put', args: { key: 'x', value: '1' } }))
    // r3 leaves the view while r2 still hears it: r1 stops hearing r3 (the link from r3 to r1 is cut), and with a
    // request waiting asks for the view change that leaves r3 out. (A replica that left the view silent for a
    // member enters again only once that member hears it; r2 never stopped hearing r3.)
    c.network.cutLink('r3', 'r1')
    const second = alice.call({ name: 'put', args: { key: 'y', value: '2' } })
    expect(await c.runUntil(() => c.host('r1').engine.view.members.join() === 'r1,r2', 5_000), states(c)).toBe(true)
    await c.until(second)
    c.heal()
    await c.crash('r3')
    c.network.partition(['r2'], ['r3']) // r3's join requests to r2 wait in the network…
    await c.restart('r3')
    expect(await settled(c), 'r1, with r2\'s votes, adds r3').toBe(true)
    const admittedIn = c.host('r3').engine.view.id
    c.heal() // … and reach r2 only now, after r3 was admitted
    await c.runFor(3_000)
    expect(c.host('r3').engine.view.id, 'no further view change for the same incarnation').toBe(admittedIn)
    expect(c.host('r3').engine.status).toBe('normal')
    await c.stop()
  })
})
