import { describe, expect, it } from 'vitest'
// The README's quickstart, verbatim (imports included), so it stays true.
import { ReplicaHost } from '@lockstep/core'
import { LockstepClient } from '@lockstep/client'
import { realScheduler } from '@lockstep/interface'
import { kv } from '@lockstep/machines'
import { lamport } from '@lockstep/order-lamport'
import { MemoryNetwork, memoryClientTransport, memoryTransport } from '@lockstep/transport-memory'
import { LockClient, startInProcessCluster } from '../src/index'
import { mutex } from '@lockstep/machines'

/** Waits (without a deadline of its own) until every replica executed the same requests. */
async function settled(hosts: readonly { engine: { position: number; pending: number } }[], expected: number) {
  while (!hosts.every((h) => h.engine.position === expected && h.engine.pending === 0)) {
    await new Promise((resolve) => setTimeout(resolve, 2))
  }
}

describe('the README quickstart', () => {
  it('replicates a key-value store on three replicas and answers a client', async () => {
    const network = new MemoryNetwork({ scheduler: realScheduler() })
    const replicas = ['r1', 'r2', 'r3']

    const hosts = replicas.map((id) => new ReplicaHost({
      self: id,
      replicas,
      machine: kv,                       // any deterministic StateMachine
      orderer: lamport(),                // total order from Lamport clocks
      transport: memoryTransport({ network, replicas }),   // built by the host with its id, clock and logger
    }))
    for (const host of hosts) await host.start()

    const client = new LockstepClient({
      id: 'alice',
      transport: memoryClientTransport({ network, replicas }),
      replicas,
    })
    await client.start()
    await client.call({ name: 'put', args: { key: 'greeting', value: 'hello' } })
    const [answer] = await client.call({ name: 'get', args: { key: 'greeting' } })
    // answer is { value: 'hello' } and all three replicas hold the same state

    expect(answer).toEqual({ value: 'hello' })
    await settled(hosts, 2)
    expect(new Set(hosts.map((h) => h.engine.stateDigest())).size).toBe(1)
    await client.stop()
    for (const host of hosts) await host.stop()
  })
})

describe('the lock service', () => {
  it('grants the lock to one client at a time; acquire resolves exactly when granted', async () => {
    const cluster = await startInProcessCluster({ machine: mutex, replicas: 3 })
    const alice = new LockClient(await cluster.client('alice', { preferred: 'r1' }))
    const bob = new LockClient(await cluster.client('bob', { preferred: 'r2' }))
    await alice.acquire()
    let bobHasIt = false
    const bobWaits = bob.acquire().then(() => (bobHasIt = true))
    await new Promise((resolve) => setTimeout(resolve, 30))
    expect(bobHasIt).toBe(false) // queued behind alice
    await alice.release()
    await bobWaits
    expect(bobHasIt).toBe(true)
    await bob.release()
    await settled(cluster.hosts, 4)
    expect(cluster.hosts.map((h) => h.engine.stateJSON())).toEqual(Array(3).fill({ user: null, waiting: [] }))
    await cluster.stop()
  })
})
